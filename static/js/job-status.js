// Keeps background-job rows current without reloading the page: every element with
// data-job-url whose state is not final polls its JSON status (/staff/jobs/<id>.json) until it is.
//
// Two kinds of rows: the jobs list says the state in words (data-job-field="words", as
// portal/services/job_listing.py writes them: keep the two in step); other pages show a state
// badge and "attempt n/m" (data-job-field="state" and "attempts").
(function () {
  "use strict";
  var FINAL = { succeeded: true, failed: true, cancelled: true };

  function setBadge(el, value) {
    el.textContent = value;
    el.className = "badge badge-" + value;
  }

  function setText(row, name, value) {
    var el = row.querySelector('[data-job-field="' + name + '"]');
    if (el) { el.textContent = value; }
  }

  function times(count) {
    return count + (count === 1 ? " attempt" : " attempts");
  }

  // " at 10:32", or " on 05 Dec at 10:32" on another day (UTC, as the page writes it), for a
  // retry still to come; "" otherwise.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function at(iso) {
    var when = iso ? new Date(iso) : null, now = new Date();
    if (!when || isNaN(when.getTime()) || when <= now) { return ""; }
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var time = pad(when.getUTCHours()) + ":" + pad(when.getUTCMinutes());
    if (when.toISOString().slice(0, 10) === now.toISOString().slice(0, 10)) { return " at " + time; }
    return " on " + pad(when.getUTCDate()) + " " + MONTHS[when.getUTCMonth()] + " at " + time;
  }

  // The state as a sentence, in the page's own words.
  function words(job) {
    var done = job.attempts || 0, most = job.max_attempts;
    switch (job.state) {
      case "pending":
        return done === 0 ? "Waiting to start" : "Waiting to retry (attempt " + (done + 1) + " of " + most + ")" + at(job.run_after);
      case "queued":
        return done === 0 ? "Queued for a worker" : "Queued for attempt " + (done + 1) + " of " + most;
      case "running":
        return done <= 1 ? "Running" : "Running attempt " + done + " of " + most;
      case "succeeded":
        if (done <= 1) { return done === 1 ? "Succeeded on the first attempt" : "Succeeded"; }
        return "Succeeded on attempt " + done + " of " + most;
      case "failed":
        return (done ? "Failed after " + times(done) : "Failed") + (job.last_error ? ":" : "");
      case "cancelled":
        return done === 0 ? "Cancelled before it ran" : "Cancelled after " + times(done);
      default:
        return job.state;
    }
  }

  function detail(job) {
    if (!job.last_error || job.state === "succeeded" || job.state === "cancelled") { return ""; }
    return job.state === "failed" ? job.last_error : "Last error: " + job.last_error;
  }

  function showWords(row, el, job) {
    var changed = row.getAttribute("data-job-state") !== job.state ||
      row.getAttribute("data-job-attempts") !== String(job.attempts);
    if (changed) {
      el.textContent = words(job);
      el.className = "job-words job-words-" + job.state;
      row.setAttribute("data-job-attempts", String(job.attempts));
    }
    setText(row, "detail", detail(job));
    setText(row, "step", FINAL[job.state] ? "" : (job.step || ""));
  }

  function showBadge(row, job) {
    var badge = row.querySelector('[data-job-field="state"]');
    if (badge) { setBadge(badge, job.state); }
    setText(row, "step", job.step || "");
    setText(row, "attempts", job.attempts);
    setText(row, "last_error", job.last_error || "");
  }

  function poll(row) {
    fetch(row.getAttribute("data-job-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        var sentence = row.querySelector('[data-job-field="words"]');
        if (sentence) { showWords(row, sentence, job); } else { showBadge(row, job); }
        row.setAttribute("data-job-state", job.state);
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
