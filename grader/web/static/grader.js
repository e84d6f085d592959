// Backprop Grader pages: a little help when JavaScript runs. Everything works without
// it: the form posts, and the server answers with the result page.
//   - times are shown in the browser's own time zone;
//   - after a submit, the first error's box gets the focus;
//   - a submit happens in place: the form is sent with fetch (its CSRF token in the
//     X-CSRF-Token header), and the statuses, messages, score and history are updated
//     from the JSON the page answers, without a reload.
(function () {
  "use strict";

  function localTimes(root) {
    var lang = document.documentElement.lang || undefined;
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        el.textContent = moment.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
      }
    });
  }

  function focusFirstError() {
    var input = document.querySelector(".blank.first-error input");
    if (input) {
      input.focus();
      return true;
    }
    return false;
  }

  function setStatus(el, status) {
    if (status) {
      el.setAttribute("data-status", status);
    } else {
      el.removeAttribute("data-status");
    }
  }

  function text(tag, content, className) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    el.textContent = content;
    return el;
  }

  function updateBlank(form, blank) {
    var input = form.querySelector('[data-blank="' + CSS.escape(blank.blank) + '"]');
    if (!input) { return null; }
    var box = input.closest(".blank");
    setStatus(input, blank.status);
    setStatus(box, blank.status);
    if (blank.status === "incorrect" || blank.status === "invalid") {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
    box.querySelector(".badge").textContent = blank.icon || "";
    var bubble = box.querySelector(".bubble");
    bubble.textContent = "";
    if (blank.status) {
      bubble.appendChild(text("span", blank.icon + " " + blank.status_text, "bubble-status"));
      if (blank.message && blank.message !== blank.status_text) {
        bubble.appendChild(document.createTextNode(": " + blank.message));
      }
    }
    box.classList.toggle("first-error", !!blank.first_error);
    var anchor = box.querySelector("#first-error");
    if (anchor && !blank.first_error) { anchor.remove(); }
    if (!anchor && blank.first_error) {
      var span = document.createElement("span");
      span.id = "first-error";
      span.className = "anchor";
      box.insertBefore(span, box.firstChild);
    }
    return { box: box, input: input, label: form.querySelector('label[for="' + input.id + '"]').textContent };
  }

  function updateResult(form, data) {
    var result = document.getElementById("result");
    var verdicts = result.querySelector("[data-verdicts]");
    verdicts.textContent = "";
    var first = null;
    data.blanks.forEach(function (blank) {
      var found = updateBlank(form, blank);
      if (!found) { return; }
      if (blank.first_error) { first = { found: found, blank: blank }; }
      if (blank.status && blank.status !== "correct") {
        var item = document.createElement("li");
        item.setAttribute("data-status", blank.status);
        var link = text("a", found.label);
        link.href = "#" + found.box.id;
        item.appendChild(link);
        item.appendChild(document.createTextNode(" "));
        item.appendChild(text("span", blank.icon + " " + blank.status_text, "status-word"));
        if (blank.message && blank.message !== blank.status_text) {
          item.appendChild(document.createTextNode(": " + blank.message));
        }
        verdicts.appendChild(item);
      }
    });
    result.hidden = data.score === null && !data.has_verdicts;
    // Room below the boxes for their messages, as the page would have drawn it (a
    // style property set from script is not inline markup: the CSP allows it).
    var graph = form.querySelector(".graph");
    if (graph && data.frame_height) { graph.style.height = data.frame_height + "px"; }
    var score = result.querySelector("[data-score]");
    score.hidden = data.score === null;
    score.setAttribute("data-score", data.data_score);
    score.querySelector("[data-score-text]").textContent = data.score_text;
    result.querySelector("[data-summary]").textContent = data.summary_text || "";
    result.querySelector("h2").textContent = data.result_heading;
    document.querySelectorAll("[data-attempts]").forEach(function (el) {
      el.textContent = data.attempts_text;
    });
    var area = document.querySelector(".notice-area");
    area.textContent = "";
    if (data.notice) {
      var notice = text("p", data.notice, "notice");
      notice.setAttribute("role", "alert");
      notice.setAttribute("data-notice", "");
      area.appendChild(notice);
    }
    var key = form.querySelector('input[name="attempt_key"]');
    if (key) { key.value = data.attempt_key; }
    updateHistory(data);
    return first;
  }

  function updateHistory(data) {
    var list = document.querySelector("[data-history]");
    var empty = document.querySelector("[data-history-empty]");
    if (!data.history.length) { return; }
    if (!list) {
      list = document.createElement("ul");
      list.setAttribute("data-history", "");
      if (empty) { empty.replaceWith(list); }
    }
    list.textContent = "";
    data.history.forEach(function (entry) {
      var item = document.createElement("li");
      var link = text("a", entry.heading);
      link.href = entry.url;
      if (entry.number === data.attempt) { link.setAttribute("aria-current", "page"); }
      item.appendChild(link);
      item.appendChild(document.createTextNode(" · " + entry.score_text + " · "));
      var time = text("time", entry.time_text);
      time.setAttribute("datetime", entry.time);
      time.setAttribute("data-local", "");
      item.appendChild(time);
      list.appendChild(item);
    });
    localTimes(list);
  }

  function submitInPlace(form) {
    var button = form.querySelector('button[type="submit"]');
    var token = form.querySelector('input[name="csrf_token"]').value;
    var body = new URLSearchParams(new FormData(form));
    if (button) { button.disabled = true; }
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": token,
                 "Content-Type": "application/x-www-form-urlencoded" },
      body: body
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") !== 0) { throw new Error("not JSON"); }
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (answer) {
      var data = answer.data;
      if (answer.ok && data.attempt !== null && !data.editable) {
        window.location.assign(data.attempt_url + (data.first_error ? "#first-error" : "#result"));
        return;
      }
      if (!answer.ok && !data.editable) {  // closed meanwhile: the page says why, read only
        window.location.assign(window.location.pathname);
        return;
      }
      var first = updateResult(form, data);
      if (answer.ok && data.attempt_url) {
        window.history.replaceState(null, "", data.attempt_url);
      }
      if (first) {
        first.found.input.focus();
      } else if (answer.ok) {
        var heading = document.getElementById("result-heading");
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      }
    }).catch(function () {
      form.submit();  // the page's own way: post, then the result page
    }).then(function () {
      if (button) { button.disabled = false; }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    if (window.location.hash === "#first-error") { focusFirstError(); }
    var form = document.querySelector("form[data-answers][method='post']");
    if (form && window.fetch && window.URLSearchParams && window.CSS && CSS.escape) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        submitInPlace(form);
      });
    }
  });
})();

// Instructor pages: a sign-in link's field selects its whole text when it gets the
// focus, ready to copy.
(function () {
  "use strict";
  document.addEventListener("focusin", function (event) {
    var field = event.target;
    if (field && field.hasAttribute && field.hasAttribute("data-copy-text")) {
      field.select();
    }
  });
})();
