import { registerOnnxOp } from '../registry.ts';

// Identity and Dropout (inference) pass their input on: no layer.
registerOnnxOp('Identity', (c) => [c.input(0)]);
registerOnnxOp('Dropout', (c) => {
  if (c.node.outputs.length > 1 && c.node.outputs[1])
    c.fail('the mask output is not supported (inference only)');
  // Opset 12 made training mode an input: only inference (false or absent) is supported.
  if (c.opset >= 12 && c.has(2) && c.ints(2, 'training_mode')[0])
    c.fail('training mode is not supported (inference only)');
  return [c.input(0)];
});
