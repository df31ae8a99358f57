/**
 * Model builders: small models for the examples, the tests and the benchmark (`smallCnn`); the CIFAR networks of
 * robust-training code (`resNet18`, `preActResNet18`, `wideResNet`, `mobileNetV2`); DARHT's student–teacher head and
 * `studentFromLayers`; `withTemperatureLayer` (LTD's deployed student as a model that saves and loads). This entry
 * point imports `@tensorflow/tfjs-layers` (an optional peer dependency); no other ardkit entry point does.
 *
 * **Weight names of the CIFAR networks.** Their layers are named after the module paths of the PyTorch reference code,
 * `.` written `_` (tfjs layer names allow letters, digits, `_`, `-`, `.` and `/`, but `/` separates a layer from its
 * weight names): PyTorch's `layer1.0.conv1.weight` is the tfjs weight `layer1_0_conv1/kernel`. The weights map as
 * follows (PyTorch → tfjs, NCHW → NHWC):
 *
 * | PyTorch | tfjs-layers | layout |
 * | --- | --- | --- |
 * | `Conv2d.weight` `[out, in, kh, kw]` | `Conv2D` `kernel` `[kh, kw, in, out]` | transpose (2, 3, 1, 0) |
 * | depthwise `Conv2d.weight` (`groups = channels`) `[C, 1, kh, kw]` | `DepthwiseConv2D` `depthwise_kernel` `[kh, kw, C, 1]` | transpose (2, 3, 0, 1) |
 * | `BatchNorm2d.weight`, `.bias` | `gamma`, `beta` | as is |
 * | `BatchNorm2d.running_mean`, `.running_var` | `moving_mean`, `moving_variance` (non-trainable) | as is |
 * | `Linear.weight` `[out, in]`, `.bias` | `Dense` `kernel` `[in, out]`, `bias` | transpose, as is |
 *
 * Layers without weights (activations `*_relu*`, sums `*_add`, the zero padding `*_pad` before each stride-2 3×3
 * convolution, which pads like PyTorch's `padding=1` where TensorFlow's `same` would pad bottom/right only), the
 * optional fixed `normalize` layer and the global average pool `features` have no PyTorch counterpart with
 * parameters. Load converted weights by name (`model.getLayer(name).setWeights(…)`), not by position: tfjs lists a
 * model's weights trainable first and orders layers by graph depth, not in `state_dict` order. PyTorch's
 * `num_batches_tracked` buffers have no counterpart.
 * @packageDocumentation
 */
export { type SmallCnnOptions, smallCnn } from './small-cnn.js';
export { type CifarNetOptions } from './cifar-layers.js';
export { resNet18, preActResNet18 } from './resnet.js';
export { type WideResNetOptions, wideResNet } from './wide-resnet.js';
export { mobileNetV2 } from './mobilenet-v2.js';
export { type StudentTeacherHead, type StudentTeacherHeadOptions, type StudentTeacherOutputs, studentTeacherHead } from './student-teacher-head.js';
export { type StudentFromLayersOptions, studentFromLayers } from './student-from-layers.js';
export { withTemperatureLayer } from './temperature-layer.js';

import { installFileUrlHint } from '../io/file-url-hint.js';

// What importing ardkit does: a `file://` URL that no tfjs handler takes then fails saying to call registerFileSystem().
installFileUrlHint();
