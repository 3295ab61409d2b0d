// Move focus to the page's result message (the plan saved, or why not), so that a screen reader
// reads it out and a keyboard user goes on from there. The autofocus attribute alone does this
// standalone, but browsers ignore it inside an EHR's cross-origin frame.
document.addEventListener("DOMContentLoaded", function () {
  var message = document.querySelector("[autofocus]");
  if (message && document.activeElement !== message) {
    message.focus();
  }
});
