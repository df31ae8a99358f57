import { DataType, type TensorProto } from './schema.js';
import { host, sizeOf, type HostValue } from './values.js';

/** An initializer or constant read from its `TensorProto`: float types as float32, integer types as int32 values. */
export interface ArrayTensor {
  readonly dtype: 'float32' | 'int32' | 'bool';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

const TYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING', 9: 'BOOL',
  10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16'
};

/** The ONNX name of a data type code, e.g. `FLOAT`. */
export function dataTypeName(code: number): string {
  return TYPE_NAMES[code] ?? `data type ${String(code)}`;
}

/** Half-precision bits to a number. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * Reads a `TensorProto`'s values (from `raw_data`, little-endian, or from its typed repeated field).
 *
 * @throws Error saying what is wrong: data kept in an external file, an unsupported data type, or a value count that
 * does not match the dimensions.
 */
export function readTensorProto(t: TensorProto): ArrayTensor {
  if (t.dataLocation === 1 || t.externalData.length > 0) {
    throw new Error(`its data is stored in an external file (${t.externalData.map((e) => `${e.key}=${e.value}`).join(', ')}); ardkit reads self-contained files: export with all tensors inside the .onnx file (torch.onnx.export does this below 2 GB)`);
  }
  const shape = t.dims.map(Number);
  const n = sizeOf(shape);
  const raw = t.rawData !== undefined && t.rawData.length > 0 ? t.rawData : undefined;
  const view = raw === undefined ? undefined : new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const expectBytes = (width: number): DataView => {
    if (view === undefined) throw new Error('internal: no raw data');
    if (view.byteLength !== n * width) {
      throw new Error(`its raw data holds ${String(view.byteLength)} bytes where dimensions [${shape.join(', ')}] of ${dataTypeName(t.dataType)} need ${String(n * width)}`);
    }
    return view;
  };
  const fromList = (list: readonly number[]): readonly number[] => {
    if (list.length !== n) throw new Error(`it holds ${String(list.length)} values where dimensions [${shape.join(', ')}] need ${String(n)}`);
    return list;
  };
  switch (t.dataType) {
    case DataType.FLOAT: {
      if (view === undefined) return { dtype: 'float32', shape, data: Float32Array.from(fromList(t.floatData)) };
      const v = expectBytes(4);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = v.getFloat32(4 * i, true);
      return { dtype: 'float32', shape, data };
    }
    case DataType.DOUBLE: {
      if (view === undefined) return { dtype: 'float32', shape, data: Float32Array.from(fromList(t.doubleData)) };
      const v = expectBytes(8);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = v.getFloat64(8 * i, true);
      return { dtype: 'float32', shape, data };
    }
    case DataType.FLOAT16: {
      const data = new Float32Array(n);
      if (view === undefined) {
        fromList(t.int32Data).forEach((bits, i) => (data[i] = halfToFloat(bits)));
      } else {
        const v = expectBytes(2);
        for (let i = 0; i < n; i++) data[i] = halfToFloat(v.getUint16(2 * i, true));
      }
      return { dtype: 'float32', shape, data };
    }
    case DataType.INT64: {
      if (view === undefined) return { dtype: 'int32', shape, data: Int32Array.from(fromList(t.int64Data), clampInt) };
      const v = expectBytes(8);
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = clampInt(Number(v.getBigInt64(8 * i, true)));
      return { dtype: 'int32', shape, data };
    }
    case DataType.INT32:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.BOOL: {
      const dtype = t.dataType === DataType.BOOL ? 'bool' : 'int32';
      if (view === undefined) return { dtype, shape, data: Int32Array.from(fromList(t.int32Data)) };
      if (t.dataType === DataType.INT32) {
        const v = expectBytes(4);
        const data = new Int32Array(n);
        for (let i = 0; i < n; i++) data[i] = v.getInt32(4 * i, true);
        return { dtype, shape, data };
      }
      const v = expectBytes(1);
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = t.dataType === DataType.INT8 ? v.getInt8(i) : v.getUint8(i);
      return { dtype, shape, data };
    }
    default:
      throw new Error(`its data type ${dataTypeName(t.dataType)} is not supported (ardkit reads FLOAT, DOUBLE, FLOAT16, INT64, INT32, INT8, UINT8 and BOOL)`);
  }
}

/**
 * int64 values beyond int32 stand for "to the end" or "from the start" in `Slice`'s starts and ends (PyTorch writes
 * ±2^63−1): they are clamped, which keeps that meaning.
 */
function clampInt(v: number): number {
  return Math.max(-2147483648, Math.min(2147483647, v));
}

/** An array tensor as a host value (for shapes, indices and small constants). */
export function toHost(a: ArrayTensor): HostValue {
  return host(a.dtype, a.shape, Array.from(a.data));
}
