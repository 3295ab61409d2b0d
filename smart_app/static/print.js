// The handout's "Print" button (no inline script: the Content-Security-Policy forbids it).
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("print-handout");
  if (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  }
});
