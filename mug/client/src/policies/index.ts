// Public API of the browser's AI policies (docs/policies.md). Same semantics as mug.policies.
export { FrameSkipPolicy, type FrameSkipSnapshot } from "./frame_skip";
export {
  compileInferenceFn,
  OnnxPolicy,
  type CustomInferenceFn,
  type InferenceContext,
  type OnnxPolicySnapshot,
  type OrtLike,
  type Policy,
  type PolicyAction,
  type SessionLike,
  type TensorLike,
} from "./onnx_policy";
export { clearSessionCache, configureOrt, createPolicy, loadSession, ort, ortRuntime, type OrtOptions } from "./runtime";
export { agentRng, exp64, fnv1a32, Pcg32, sampleIndex, seedBits, softmax } from "./sampling";
export { parseModelSpec, PolicyError, SPEC_VERSION, type FixedDtype, type FixedInput, type ModelSpec, type StatePair } from "./spec";
export { fitObservationShape, flattenObservation } from "./tensors";
