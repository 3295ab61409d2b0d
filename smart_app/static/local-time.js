// Show each <time class="local-time" datetime="..."> in the browser's own time zone
// (smart_app/times.py writes it in UTC; without script that text stays).
document.addEventListener("DOMContentLoaded", function () {
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  document.querySelectorAll("time.local-time").forEach(function (element) {
    var moment = new Date(element.getAttribute("datetime"));
    if (!isNaN(moment.getTime())) {
      element.textContent = format.format(moment);
      element.title = element.getAttribute("datetime");
    }
  });
});
