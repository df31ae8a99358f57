import * as tf from '@tensorflow/tfjs-core';
import { checkFunction, checkPositive } from './validate.js';
import { parseOptions, type OptionField, type OptionFields } from './options.js';
import { formatValue, isTensor, rangeError, typeError, named, argumentError, runAs } from './errors.js';
import { layersForward } from './layers-forward.js';

/**
 * A classifier as ardkit sees it: a function from an input batch `[B, ...]` to logits `[B, C]`.
 * Any differentiable tfjs computation qualifies; {@link fromLayersModel} adapts a tfjs-layers model.
 */
export type Model = (x: tf.Tensor) => tf.Tensor2D;

/**
 * The part of a tfjs-layers `LayersModel` that ardkit uses. Declared structurally so that
 * `@tensorflow/tfjs-layers` stays an optional peer dependency.
 */
export interface LayersModelLike {
  /** Runs the model on `inputs`; ardkit passes `{ training }` and expects one logits tensor back. */
  apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): unknown;
}

/** Options of {@link fromLayersModel}. */
export interface FromLayersModelOptions {
  /**
   * Run layers in training mode (dropout active, batch norm on batch statistics).
   * @defaultValue false
   */
  readonly training?: boolean;
}

/**
 * Adapts a tfjs-layers model (its last layer must output logits, not probabilities) to a {@link Model}.
 *
 * @param model - a `tf.LayersModel` or anything with the same `apply`.
 * @param options - see {@link FromLayersModelOptions}.
 * @returns a function `x ↦ model.apply(x, { training })`, differentiable with respect to `x`. For the layers ardkit's
 * builders and most classifiers use (dense, convolutions, batch norm, pooling, activations, add, concatenate, padding,
 * flatten, dropout) it runs the same computation with tfjs-core ops directly, without `apply`'s per-call overhead, and
 * without the weight gradients that tfjs' fused layers compute on every input gradient; other models run through
 * `apply`.
 * @throws TypeError when `model` has no `apply` method, or (when called) when it returns several outputs.
 * @example
 * const net = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 10 })] });
 * const model = fromLayersModel(net);
 * const logits = model(x); // [B, 10]
 */
export function fromLayersModel(model: LayersModelLike, options: Readonly<FromLayersModelOptions> = {}): Model {
  return named('fromLayersModel', () => {
    if (typeof model !== 'object' || model === null || typeof model.apply !== 'function') {
      typeError('model', 'be a tfjs-layers model with an apply method', model);
    }
    const training = options.training ?? false;
    const run = layersForward(model, training);
    return (x: tf.Tensor): tf.Tensor2D => {
      return named('fromLayersModel', () => {
        const out = run(x);
        if (!(out instanceof tf.Tensor)) {
          // Several outputs (or anything else): release what the model made before rejecting it.
          tf.dispose(out as tf.TensorContainer);
          typeError('model', 'return a single tensor of logits', out);
        }
        return out as tf.Tensor2D;
      });
    };
  });
}

/** What a graph model reports about one of its inputs: the name, and the shape (`-1` for a free dimension) and dtype. */
export interface GraphTensorInfoLike {
  /** The input's name. */
  readonly name: string;
  /** Its shape, `-1` where any size goes; absent when the graph does not fix it. */
  readonly shape?: readonly number[] | undefined;
  /** Its dtype, when the graph gives one. */
  readonly dtype?: string | undefined;
}

/**
 * The part of a tfjs-converter `GraphModel` (what `tf.loadGraphModel` returns for a model converted by
 * `tensorflowjs_converter`) that ardkit uses. Declared structurally so that `@tensorflow/tfjs-converter` stays an
 * optional peer dependency.
 */
export interface GraphModelLike {
  /** The names of the graph's inputs (its placeholders). */
  readonly inputNodes: readonly string[];
  /** The names of the graph's outputs: the nodes `execute` computes when it is not told which. */
  readonly outputNodes: readonly string[];
  /** The inputs' shapes and dtypes, when known: ardkit checks `x` against them before running the graph. */
  readonly inputs?: readonly GraphTensorInfoLike[];
  /**
   * Runs the graph synchronously on a map from input name to tensor; ardkit names one output node and expects one
   * tensor back.
   */
  execute(inputs: tf.NamedTensorMap, outputs?: string): unknown;
}

/** Options of {@link fromGraphModel}. */
export interface FromGraphModelOptions {
  /**
   * The node that receives `x`: one of the graph's `inputNodes`, or any node of the graph to feed it directly.
   * @defaultValue the graph's input, when it has exactly one
   */
  readonly inputName?: string;
  /**
   * The node whose value is the logits `[B, C]`: one of the graph's `outputNodes`, or any node of the graph, e.g. the
   * node that feeds a final `Softmax`.
   * @defaultValue the graph's output, when it has exactly one
   */
  readonly outputName?: string;
}

/** Whether `value` is an array of strings. */
function isStringArray(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** The node names and input infos of a loaded graph model; a TypeError naming `fromGraphModel` for anything else. */
function graphNodes(model: unknown): Pick<GraphModelLike, 'inputNodes' | 'outputNodes' | 'inputs'> {
  return named('fromGraphModel', () => {
    const looksLayers = typeof model === 'object' && model !== null && typeof (model as { apply?: unknown }).apply === 'function';
    const rule = `be a loaded tf.GraphModel, with execute, inputNodes and outputNodes${looksLayers ? ' (a tfjs-layers model goes through fromLayersModel)' : ''}`;
    if (typeof model !== 'object' || model === null || typeof (model as { execute?: unknown }).execute !== 'function') {
      typeError('model', rule, model);
    }
    let nodes: { inputNodes: unknown; outputNodes: unknown; inputs: unknown };
    try {
    // GraphModel's getters read its graph, which a model not loaded yet lacks: they throw then.
      const m = model as Record<'inputNodes' | 'outputNodes' | 'inputs', unknown>;
      nodes = { inputNodes: m.inputNodes, outputNodes: m.outputNodes, inputs: m.inputs };
    } catch (error) {
      throw argumentError(TypeError, `model must ${rule} (got a model whose graph cannot be read: ${(error as Error).message}); load it with tf.loadGraphModel`, { cause: error });
    }
    if (!isStringArray(nodes.inputNodes) || !isStringArray(nodes.outputNodes)) typeError('model', rule, model);
    const inputs = Array.isArray(nodes.inputs) ? (nodes.inputs as readonly GraphTensorInfoLike[]) : undefined;
    return { inputNodes: nodes.inputNodes, outputNodes: nodes.outputNodes, ...(inputs === undefined ? {} : { inputs }) };
  });
}

/**
 * An option that names a node among `nodes` (the graph's inputs or outputs): a non-empty string, or, left out, the
 * graph's only node of that kind. Its default depends on the model, so the fields are made per call.
 */
function nodeField(kind: string, nodes: readonly string[]): OptionField<string> {
  return {
    parse: (arg, value) => {
      if (value === undefined) {
        if (nodes.length === 1) return nodes[0] as string;
        const listed = nodes.length === 0 ? 'none' : nodes.map((n) => JSON.stringify(n)).join(', ');
        rangeError(arg, `name the ${kind}, since the graph does not have exactly one (it has ${listed})`, value);
      }
      if (typeof value !== 'string') typeError(arg, 'be a string naming a node of the graph', value);
      if (value.length === 0) rangeError(arg, 'be a string naming a node of the graph', value);
      return value;
    }
  };
}

/** Checks `x` against what the graph says about its input (a `-1` dimension takes any size). */
function checkGraphInput(x: tf.Tensor, info: GraphTensorInfoLike | undefined): void {
  named('fromGraphModel', () => {
    if (info === undefined) return;
    const name = JSON.stringify(info.name);
    if (typeof info.dtype === 'string' && info.dtype !== x.dtype) {
      typeError('x', `have the dtype of the graph's input ${name}, ${info.dtype}`, x);
    }
    const shape = info.shape;
    if (shape !== undefined && (shape.length !== x.rank || shape.some((d, i) => d >= 0 && d !== x.shape[i]))) {
      rangeError('x', `have the shape of the graph's input ${name}, ${formatValue(shape)} (-1: any size)`, x);
    }
  });
}

/**
 * Runs the graph, turning tfjs-converter's errors about the graph itself into errors that name `fromGraphModel`, the
 * option at fault and what to do.
 */
function executeGraph(model: GraphModelLike, inputName: string, x: tf.Tensor, outputName: string): unknown {
  // Its errors are about the graph: they name fromGraphModel whatever function ran the model.
  return runAs('fromGraphModel', () => {
    try {
      return model.execute({ [inputName]: x }, outputName);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message.includes('executeAsync')) {
      // tf.grad needs a synchronous forward pass; tfjs-converter names the offending node and op.
        const found = /node '([^']*)', which has the dynamic op '([^']*)'/.exec(message) ?? /the op '([^']*)' returned a promise/.exec(message);
        const got = found === null ? message : found.length === 3 ? `the node "${found[1] ?? ''}" with the op ${found[2] ?? ''}` : `the op ${found[1] ?? ''}`;
        throw argumentError(TypeError, 'model must run with the synchronous execute(), which input gradients need, so its graph must have no ' +
          `control-flow or dynamic-shape op (got ${got}); convert a graph without them (inference mode, no tf.cond or ` +
          'tf.while_loop, fixed shapes)',
        { cause: error }
        );
      }
      if (message.includes('not found in the graph')) {
        throw argumentError(RangeError, `outputName must name a node of the graph (got ${formatValue(outputName)})`, { cause: error });
      }
      if (message.includes('not part of graph')) {
        throw argumentError(RangeError, `inputName must name a node of the graph (got ${formatValue(inputName)})`, { cause: error });
      }
      throw argumentError(Error, `the graph model failed on x (${formatValue(x)}): ${message}`, { cause: error });
    }
  });
}

/**
 * Adapts a tfjs-converter graph model (a Keras model or TensorFlow SavedModel converted by `tensorflowjs_converter`
 * and loaded with `tf.loadGraphModel`) to a {@link Model}. The graph runs through its synchronous `execute`, whose ops
 * are tfjs-core ops, so `tf.grad` differentiates through it and every attack and loss accepts it. Its weights are
 * constants: it serves as a teacher or a model to attack and evaluate, never as a student that `fit` trains. The node
 * named by `outputName` must hold logits, not probabilities: for a Keras model ending in a softmax, name the node that
 * feeds the `Softmax` op (listed in `model.json`). Graphs with control flow or dynamic shapes, which only
 * `executeAsync` runs, cannot be differentiated and are rejected on the first call.
 *
 * @param model - a loaded `tf.GraphModel`, or anything with the same `execute`, `inputNodes` and `outputNodes`.
 * @param options - see {@link FromGraphModelOptions}.
 * @returns a function `x ↦ logits [B, C]` (`x` in the input's shape, `[B, ...]`), differentiable with respect to
 * `x`; the caller owns the logits, and every intermediate is released.
 * @throws TypeError when `model` is not a loaded graph model, an option is not a string, or (when called) `x` is not a
 * tensor or not of the input's dtype, the graph needs `executeAsync` (control flow, dynamic shapes), or the output is
 * not a single tensor; RangeError when the graph does not have exactly one input (output) and `inputName`
 * (`outputName`) is not given, an option is empty or unknown, or (when called) `x` does not have the input's shape, a
 * name is not a node of the graph, or the output is not of rank 2 with `x`'s batch size.
 * @example
 * const graph = await tf.loadGraphModel('https://example.com/teacher/model.json'); // from '@tensorflow/tfjs-converter'
 * const teacher = fromGraphModel(graph); // or fromGraphModel(graph, { outputName: 'logits' }) for a graph with several outputs
 * const xAdv = pgd(teacher, x, y, { eps: 0.3 });
 */
export function fromGraphModel(model: GraphModelLike, options: Readonly<FromGraphModelOptions> = {}): Model {
  return named('fromGraphModel', () => {
    const graph = graphNodes(model);
    const fields: OptionFields<FromGraphModelOptions> = {
      inputName: nodeField('input that receives x', graph.inputNodes),
      outputName: nodeField('output that holds the logits', graph.outputNodes)
    };
    const { inputName, outputName } = parseOptions(options, fields);
    const info = graph.inputs?.find((i) => i.name === inputName);
    return (x: tf.Tensor): tf.Tensor2D => {
      return named('fromGraphModel', () => {
        if (!isTensor(x)) typeError('x', 'be a tf.Tensor', x);
        checkGraphInput(x, info);
        const out = executeGraph(model, inputName, x, outputName);
        const output = `the output ${JSON.stringify(outputName)}`;
        if (!isTensor(out)) {
          tf.dispose(out as tf.TensorContainer);
          typeError(output, 'be a single tensor of logits', out);
        }
        if (out.rank !== 2 || out.shape[0] !== x.shape[0]) {
          out.dispose();
          rangeError(output, `be logits of shape [B, C], with B = ${String(x.shape[0])} as in x`, out);
        }
        return out as tf.Tensor2D;
      });
    };
  });
}

/**
 * Divides a model's logits by a temperature: `z/τ`. LTD deploys its student this way
 * (Chen & Lee, arXiv 2111.02331).
 *
 * @param model - the model whose logits are scaled.
 * @param temperature - `τ > 0`.
 * @returns the model `x ↦ model(x)/τ`.
 * @throws RangeError when `temperature` is not a finite number > 0; TypeError when `model` is not a function.
 * @example
 * const deployed = withTemperature(student, 5);
 */
export function withTemperature(model: Model, temperature: number): Model {
  return named('withTemperature', () => {
    checkFunction('model', model);
    checkPositive('temperature', temperature);
    return (x: tf.Tensor): tf.Tensor2D => tf.tidy(() => tf.div(model(x), temperature));
  });
}
