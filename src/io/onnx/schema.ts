import type protobuf from 'protobufjs/light.js';

/**
 * The part of ONNX's `onnx.proto` (package `onnx`, IR versions 3–9) that a model file of a CNN uses, as a protobufjs
 * JSON descriptor: field names, numbers and types as the ONNX specification declares them. Fields that ardkit does not
 * read (training info, functions, sparse tensors, quantisation annotations) are left out: protobuf skips unknown
 * fields, so files that carry them still decode.
 */
const ONNX_DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 }
          }
        },
        OperatorSetIdProto: {
          fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } }
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 }
          }
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            docString: { type: 'string', id: 6 }
          }
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            refAttrName: { type: 'string', id: 21 },
            docString: { type: 'string', id: 13 },
            type: { type: 'int32', id: 20 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            tensors: { rule: 'repeated', type: 'TensorProto', id: 10 },
            graphs: { rule: 'repeated', type: 'GraphProto', id: 11 }
          }
        },
        ValueInfoProto: {
          fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 }, docString: { type: 'string', id: 3 } }
        },
        TypeProto: {
          fields: { tensorType: { type: 'TypeProtoTensor', id: 1 }, denotation: { type: 'string', id: 6 } }
        },
        TypeProtoTensor: {
          fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } }
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } }
        },
        Dimension: {
          fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 }, denotation: { type: 'string', id: 3 } }
        },
        StringStringEntryProto: {
          fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } }
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4 },
            int32Data: { rule: 'repeated', type: 'int32', id: 5 },
            stringData: { rule: 'repeated', type: 'bytes', id: 6 },
            int64Data: { rule: 'repeated', type: 'int64', id: 7 },
            name: { type: 'string', id: 8 },
            docString: { type: 'string', id: 12 },
            rawData: { type: 'bytes', id: 9 },
            externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
            doubleData: { rule: 'repeated', type: 'double', id: 10 },
            uint64Data: { rule: 'repeated', type: 'uint64', id: 11 }
          }
        }
      }
    }
  }
} as const;

/** ONNX's `TensorProto.DataType` values that ardkit reads. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;

/** ONNX's `AttributeProto.AttributeType` values. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;

/** A decoded `TensorProto` (int64 fields as JavaScript numbers). */
export interface TensorProto {
  readonly dims: readonly number[];
  readonly dataType: number;
  readonly floatData: readonly number[];
  readonly int32Data: readonly number[];
  readonly int64Data: readonly number[];
  readonly doubleData: readonly number[];
  readonly rawData?: Uint8Array;
  readonly name: string;
  readonly externalData: readonly { readonly key: string; readonly value: string }[];
  readonly dataLocation: number;
}

/** A decoded `AttributeProto`. */
export interface AttributeProto {
  readonly name: string;
  readonly type: number;
  readonly f: number;
  readonly i: number;
  readonly s?: Uint8Array;
  readonly t?: TensorProto;
  readonly g?: GraphProto;
  readonly floats: readonly number[];
  readonly ints: readonly number[];
  readonly refAttrName: string;
}

/** A decoded `NodeProto`. */
export interface NodeProto {
  readonly input: readonly string[];
  readonly output: readonly string[];
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly attribute: readonly AttributeProto[];
}

/** A decoded `ValueInfoProto`. */
export interface ValueInfoProto {
  readonly name: string;
  readonly type?: {
    readonly tensorType?: {
      readonly elemType: number;
      readonly shape?: { readonly dim: readonly { readonly dimValue?: number; readonly dimParam?: string }[] };
    };
  };
}

/** A decoded `GraphProto`. */
export interface GraphProto {
  readonly node: readonly NodeProto[];
  readonly name: string;
  readonly initializer: readonly TensorProto[];
  readonly input: readonly ValueInfoProto[];
  readonly output: readonly ValueInfoProto[];
}

/** A decoded `ModelProto`. */
export interface ModelProto {
  readonly irVersion: number;
  readonly opsetImport: readonly { readonly domain: string; readonly version: number }[];
  readonly producerName: string;
  readonly producerVersion: string;
  readonly graph?: GraphProto;
}

let modelType: protobuf.Type | undefined;

/**
 * The `onnx.ModelProto` message type, built once from the descriptor. protobufjs is imported here, on first use, so
 * that no bundle carries it unless it loads ONNX files.
 */
export async function onnxModelType(): Promise<protobuf.Type> {
  if (modelType === undefined) {
    const imported = (await import('protobufjs/light.js')) as typeof protobuf & { default?: typeof protobuf };
    const pb = imported.default ?? imported;
    modelType = pb.Root.fromJSON(ONNX_DESCRIPTOR).lookupType('onnx.ModelProto');
  }
  return modelType;
}

/**
 * Decodes an ONNX file's bytes into plain objects: int64 fields as numbers, bytes as `Uint8Array`, repeated fields
 * as arrays (empty when absent) and scalar fields at their defaults when absent.
 *
 * @throws Error (protobufjs' own) when the bytes are not a well-formed protobuf message.
 */
export async function decodeModel(bytes: Uint8Array): Promise<ModelProto> {
  const type = await onnxModelType();
  const message = type.decode(bytes);
  return type.toObject(message, { longs: Number, bytes: Uint8Array, arrays: true, defaults: true }) as unknown as ModelProto;
}

/**
 * Encodes plain objects of the same shape as {@link decodeModel}'s into an ONNX file's bytes. Used by the tests and
 * by tools that write small graphs; ardkit itself only reads.
 */
export async function encodeModel(model: object): Promise<Uint8Array> {
  const type = await onnxModelType();
  return type.encode(type.fromObject(model)).finish();
}
