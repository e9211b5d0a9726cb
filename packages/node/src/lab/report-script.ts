/** The report's only script (inlined): the training-timeline sliders swap each frame's image. */
export const REPORT_JS = `
document.querySelectorAll('.timeline').forEach(function (tl) {
  var frames = JSON.parse(tl.getAttribute('data-frames'));
  var labels = JSON.parse(tl.getAttribute('data-labels'));
  var img = tl.querySelector('img');
  var out = tl.querySelector('output');
  var range = tl.querySelector('input');
  function show(i) { img.src = frames[i]; out.textContent = labels[i]; }
  range.addEventListener('input', function () { show(Number(range.value)); });
  show(Number(range.value));
});
`;
