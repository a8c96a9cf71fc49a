/*
 * Switchboard console: what the bot would do, in the knowledge-base editor (knowledge managers
 * and admins). Plain JavaScript, no dependencies.
 *
 * The "Try a question" box asks POST /api/v1/kb/try and shows the article the bot would answer
 * with, its confidence against the threshold, and the runner-up. An article's "Coverage" card
 * reads GET /api/v1/kb/articles/{id}/{locale}/coverage and lists the phrasings the bot would not
 * answer from the others, so the knowledge manager knows which wordings to add. Uses only what
 * console.js exposes on window.SwitchboardConsole; everything from the server goes on the page
 * as text (h() sets attributes and text nodes, never HTML).
 */
(function () {
  "use strict";

  const C = window.SwitchboardConsole;
  if (!C) return;
  const { api, h, humanize, report, isKbPublisher, openKbArticle } = C;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;

  const OUTCOMES = {
    answered: { label: "Answers", tone: "ok" },
    missed: { label: "Would not answer", tone: "bad" },
    escalated: { label: "Hands over to a person", tone: "warn" },
    smalltalk: { label: "Small talk", tone: "info" },
  };
  const REASONS = {
    not_answered: "Not answered",
    other_article: "Answered with another article",
    smalltalk: "Taken as small talk",
  };
  const view = { trySeq: 0, coverageSeq: 0, article: null };

  /** A confidence as a percentage; a small one that is not nothing reads "<1%", not "0%". */
  function pct(value) {
    const n = Number(value || 0);
    return n > 0 && n < 0.005 ? "<1%" : Math.round(n * 100) + "%";
  }

  /** A bar filled to the confidence, with a tick at the threshold. */
  function meter(confidence, threshold) {
    const fill = h("span", { class: "kb-meter-fill" });
    fill.style.width = pct(confidence);
    const tick = h("span", { class: "kb-meter-threshold", title: "Threshold " + pct(threshold) });
    tick.style.insetInlineStart = pct(threshold);
    return h("span", { class: "kb-meter", role: "presentation" }, [fill, tick]);
  }

  function articleLink(item, className) {
    const link = h("button", { type: "button", class: "link-button " + className, dir: "auto", title: "Open the article" },
      String(item.title || item.id));
    link.addEventListener("click", () => openKbArticle(item.id, item.locale));
    return link;
  }

  // ================================================================== try a question

  async function tryQuestion(event) {
    event.preventDefault();
    const question = $("kb-try-q").value.trim();
    if (!question) {
      $("kb-try-q").focus();
      return;
    }
    const seq = ++view.trySeq;
    const button = $("kb-try-ask");
    button.disabled = true;
    showTry([h("p", { class: "muted" }, "Asking the bot…")]);
    try {
      const data = await api("POST", "/kb/try", { question });
      if (seq === view.trySeq) renderTry(data || {});
    } catch (err) {
      if (seq !== view.trySeq) return;
      if (err.status === 400) showTry([h("p", { class: "dialog-error" }, err.message)]);
      else {
        $("kb-try-result").hidden = true;
        report(err, "Could not ask the bot.");
      }
    } finally {
      if (seq === view.trySeq) button.disabled = false;
    }
  }

  function showTry(children) {
    const box = $("kb-try-result");
    box.replaceChildren(...children);
    box.hidden = false;
  }

  function renderTry(data) {
    const outcome = OUTCOMES[data.outcome] || { label: humanize(String(data.outcome)), tone: "info" };
    const verdict = h("span", { class: "badge kb-try-outcome", "data-tone": outcome.tone }, outcome.label);
    const parts = [h("div", { class: "kb-try-verdict" }, [verdict, h("span", { class: "badge kb-locale", title: "The language the bot answers in" }, String(data.locale || ""))])];
    if (data.intent === "faq" && data.article) {
      const article = data.article;
      parts.push(
        h("div", { class: "kb-try-article" }, [articleLink(article, "kb-try-title"), h("span", { class: "badge kb-locale" }, String(article.locale))]),
        h("div", { class: "kb-try-score" }, [
          h("strong", { class: "kb-try-confidence" }, pct(data.confidence)),
          meter(data.confidence, data.threshold),
          h("span", { class: "muted kb-try-threshold" }, (data.answered ? "≥ " : "< ") + "threshold " + pct(data.threshold)),
        ]),
        h("p", { class: "kb-try-excerpt", dir: "auto" }, String(article.excerpt || "")),
      );
      if (!data.answered) {
        parts.push(h("p", { class: "kb-try-note" }, data.outcome === "escalated"
          ? "Below the threshold: on this channel the customer goes to a person at once."
          : "Below the threshold: the bot says it is not sure; " + data.max_misses + " misses in a row go to a person."));
      }
    } else if (data.intent === "handoff") {
      parts.push(h("p", { class: "kb-try-note" }, "The customer asks for a person: the conversation goes to the queue."));
    } else if (data.reply) {
      parts.push(h("p", { class: "kb-try-excerpt", dir: "auto" }, "“" + String(data.reply) + "”"));
    } else {
      parts.push(h("p", { class: "kb-try-note" }, "No article shares a word with the question: " +
        (data.outcome === "escalated" ? "the customer goes to a person." : "the bot says it is not sure.")));
    }
    const runner = data.runner_up;
    if (runner) {
      parts.push(h("div", { class: "kb-try-runner" }, [
        h("span", { class: "muted" }, "Runner-up"),
        articleLink(runner, "kb-try-runner-title"),
        h("span", { class: "kb-try-runner-confidence" }, pct(runner.confidence)),
      ]));
    }
    const others = data.others || [];
    if (others.length) {
      parts.push(h("ol", { class: "kb-try-others", "aria-label": "Next" }, others.map((item, n) => h("li", null, [
        h("span", { class: "muted kb-try-rank" }, String(n + 3) + "."),
        articleLink(item, "kb-try-other-title"),
        h("span", { class: "muted kb-try-other-confidence" }, pct(item.confidence)),
      ]))));
    }
    showTry(parts);
  }

  // ================================================================== coverage

  function showCoverageFor(article) {
    view.article = article;
    view.coverageSeq++;
    const card = $("kb-coverage");
    card.hidden = !article || !isKbPublisher();
    if (card.hidden) return;
    loadCoverage();
  }

  async function loadCoverage() {
    const article = view.article;
    if (!article) return;
    const seq = ++view.coverageSeq;
    $("kb-coverage-run").disabled = true;
    $("kb-coverage").setAttribute("aria-busy", "true");
    $("kb-coverage-summary").textContent = "Asking the bot each phrasing without it…";
    $("kb-coverage-missing").replaceChildren();
    $("kb-coverage-covered").hidden = true;
    try {
      const path = "/kb/articles/" + enc(article.id) + "/" + enc(article.locale) + "/coverage";
      const data = await api("GET", path);
      if (seq === view.coverageSeq) renderCoverage(data || {});
    } catch (err) {
      if (seq !== view.coverageSeq) return;
      $("kb-coverage-summary").textContent = "";
      report(err, "Could not check the phrasings.");
    } finally {
      if (seq === view.coverageSeq) {
        $("kb-coverage-run").disabled = false;
        $("kb-coverage").removeAttribute("aria-busy");
      }
    }
  }

  function renderCoverage(data) {
    const items = data.items || [];
    const counts = data.counts || {};
    const missing = items.filter((item) => item.outcome !== "answered" && item.outcome !== "not_checked");
    const answered = items.filter((item) => item.outcome === "answered");
    const checked = Number(data.checked) || 0;
    let text = answered.length + " of " + checked + (checked === 1 ? " phrasing" : " phrasings") +
      " would be answered from the others.";
    if (missing.length) {
      text += missing.length === 1
        ? " The bot answers the one below only because it is written here word for word: add phrasings worded like it."
        : " The bot answers the " + missing.length + " below only because they are written here word for word: add phrasings worded like them.";
    }
    if (counts.not_checked) {
      text += " " + counts.not_checked + " not checked: a check stops " +
        (data.capped === "time" ? "after its time limit." : "at " + checked + " phrasings.");
    }
    if (data.unpublished) text += " Checked as saved: customers do not get this version yet.";
    $("kb-coverage-summary").textContent = text;
    $("kb-coverage-missing").replaceChildren(...missing.map((item) => coverageItem(item, data.threshold)));
    $("kb-coverage-answered").replaceChildren(...answered.map((item) => coverageItem(item, data.threshold)));
    $("kb-coverage-covered-title").textContent = "Answered from the others (" + answered.length + ")";
    $("kb-coverage-covered").hidden = answered.length === 0;
  }

  function coverageItem(item, threshold) {
    const top = item.top;
    let reason;
    if (item.outcome === "answered") {
      reason = [h("span", { class: "muted" }, pct(item.confidence))];
    } else if (item.outcome === "smalltalk") {
      reason = [REASONS.smalltalk + " (" + humanize(String(item.intent || "")) + "): the bot never looks it up"];
    } else if (item.outcome === "other_article" && top) {
      reason = [REASONS.other_article + ": ", articleLink(top, "kb-coverage-top"), " " + pct(top.confidence)];
    } else if (top) {
      const own = view.article && top.id === view.article.id;
      reason = [REASONS.not_answered + ": " + pct(top.confidence) + " < " + pct(threshold) + ", best guess ",
        own ? h("span", null, "this article") : articleLink(top, "kb-coverage-top")];
    } else {
      reason = [REASONS.not_answered + ": no article shares a word with it"];
    }
    return h("li", { class: "kb-coverage-item", "data-outcome": item.outcome }, [
      h("div", { class: "kb-coverage-line" }, [
        h("span", { class: "badge kb-locale" }, String(item.locale)),
        item.kind === "title" ? h("span", { class: "badge" }, "title") : null,
        h("span", { class: "kb-coverage-text", dir: "auto" }, String(item.text)),
      ]),
      h("div", { class: "kb-coverage-reason" }, reason),
    ]);
  }

  // ================================================================== wiring

  function enter() {
    $("kb-try").hidden = !isKbPublisher();
  }

  function reset() {
    view.trySeq++;
    view.coverageSeq++;
    view.article = null;
    $("kb-try-q").value = "";
    $("kb-try-result").hidden = true;
    $("kb-try-result").replaceChildren();
    $("kb-coverage").hidden = true;
  }

  $("kb-try-form").addEventListener("submit", tryQuestion);
  $("kb-coverage-run").addEventListener("click", loadCoverage);
  C.onKbArticle(showCoverageFor);
  C.onView("kb", { enter, reset });
})();
