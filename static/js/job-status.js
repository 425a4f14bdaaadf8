// Keeps background-job rows (templates/_job_progress.html) current without reloading the page:
// every element with data-job-url whose state is not final polls its JSON status until it is.
//
// The JSON carries the words as portal/services/job_listing.py writes them (state, error, step,
// progress label, what happens next): this file only puts them in place, so the words have one
// definition. While the job runs, the <progress> bar and its counts move. When it finishes, a
// row marked data-job-reload (or any failed job: to show its Retry button) reloads the page, which
// then shows what the job made (codes, per-row results).
(function () {
  "use strict";
  var RUNNING_EVERY = 1000, WAITING_EVERY = 2000, AFTER_ERROR = 5000;

  function field(row, name) {
    return row.querySelector('[data-job-field="' + name + '"]');
  }

  function setText(row, name, value) {
    var el = field(row, name);
    if (el && el.textContent !== value) { el.textContent = value; }
  }

  function showProgress(row, progress, final) {
    var holder = field(row, "bar");
    if (!holder) { return; }
    if (!progress) { holder.hidden = true; return; }
    holder.hidden = false;
    var bar = holder.querySelector("progress");
    if (bar) {
      if (progress.total === null && final) {
        bar.max = 1;  // over without a known total: nothing more is coming
        bar.value = 0;
      } else if (progress.total === null) {
        bar.removeAttribute("value");  // indeterminate: the total is not known yet
      } else {
        bar.max = progress.total || 1;
        bar.value = progress.total ? progress.done : 1;
      }
      bar.textContent = progress.label;
    }
    setText(row, "progress", progress.label);
  }

  function show(row, job) {
    var words = field(row, "words");
    if (words) {
      words.textContent = job.words;
      words.className = "job-words job-words-" + job.state;
    }
    setText(row, "detail", job.detail || "");
    setText(row, "step", job.step || "");
    setText(row, "next", job.next || "");
    showProgress(row, job.progress, job.final);
    row.setAttribute("data-job-state", job.state);
    row.setAttribute("data-job-attempts", String(job.attempts));
    var edx = document.querySelector('[data-edx-state-for="' + job.id + '"]');
    if (edx && job.edx_state) {
      edx.textContent = job.edx_state_words || job.edx_state;
      edx.className = "badge badge-" + job.edx_state;
    }
  }

  function poll(row) {
    fetch(row.getAttribute("data-job-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        show(row, job);
        if (job.final) {
          if (row.hasAttribute("data-job-reload") || job.state === "failed") { window.location.reload(); }
          return;
        }
        window.setTimeout(function () { poll(row); }, job.state === "running" ? RUNNING_EVERY : WAITING_EVERY);
      })
      .catch(function () { window.setTimeout(function () { poll(row); }, AFTER_ERROR); });
  }

  var FINAL = { succeeded: true, failed: true, cancelled: true };
  document.querySelectorAll("[data-job-url]").forEach(function (row) {
    if (!FINAL[row.getAttribute("data-job-state")]) { poll(row); }
  });
})();
