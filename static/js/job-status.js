// Keeps background-job rows current without reloading the page: every element with
// data-job-url whose state is not final polls its JSON status until it is.
(function () {
  "use strict";
  var FINAL = { succeeded: true, failed: true, cancelled: true };

  function setBadge(el, value) {
    el.textContent = value;
    el.className = "badge badge-" + value;
  }

  function poll(row) {
    fetch(row.getAttribute("data-job-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        row.setAttribute("data-job-state", job.state);
        setBadge(row.querySelector('[data-job-field="state"]'), job.state);
        row.querySelector('[data-job-field="step"]').textContent = job.step || "";
        row.querySelector('[data-job-field="attempts"]').textContent = job.attempts;
        row.querySelector('[data-job-field="last_error"]').textContent = job.last_error || "";
        var edx = document.querySelector('[data-edx-state-for="' + job.id + '"]');
        if (edx && job.edx_state) { setBadge(edx, job.edx_state); }
        if (FINAL[job.state]) {
          if (job.state === "failed") { window.location.reload(); }  // show the retry button
          return;
        }
        window.setTimeout(function () { poll(row); }, 2000);
      })
      .catch(function () { window.setTimeout(function () { poll(row); }, 5000); });
  }

  document.querySelectorAll("[data-job-url]").forEach(function (row) {
    if (!FINAL[row.getAttribute("data-job-state")]) { poll(row); }
  });
})();
