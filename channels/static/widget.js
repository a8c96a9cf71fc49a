/*!
 * Switchboard web chat widget: the customer side of the chat.
 *
 *   <script src="https://HOST/chat/widget.js" async></script>
 *   optional attributes: data-locale="th"  data-title="Support"  data-open="true"
 *
 * Speaks the "Customer web chat" protocol of docs/protocol.md over ws(s)://HOST/chat/ws.
 * Plain JavaScript, no dependencies, no build step. The whole UI lives inside a Shadow DOM so the
 * host site's CSS can neither break it nor be broken by it. Data from the server or the customer
 * only ever reaches the page through textContent / setAttribute, never through innerHTML.
 *
 * Test hooks (inside window.SwitchboardChat.root): #sb-launcher, #sb-panel, #sb-status,
 * #sb-messages (.sb-msg.sb-<author>[data-id][data-state]), #sb-typing, #sb-input, #sb-send, #sb-error,
 * .sb-feedback .sb-vote[data-vote=helpful|not_helpful][aria-pressed] (under the answer to rate).
 */
(function () {
  "use strict";

  // The snippet pasted twice on one page must not create two chats (the flag also covers the
  // window before DOMContentLoaded, when SwitchboardChat does not exist yet).
  if (window.SwitchboardChat || window.__switchboardChatLoaded) return;
  window.__switchboardChatLoaded = true;

  // ------------------------------------------------------------------ configuration

  // document.currentScript is only set while this file is first evaluated (async scripts
  // included), so it has to be captured right here, not later in a callback.
  var SCRIPT = document.currentScript || findOwnScript();
  var CONFIG = readConfig(SCRIPT);

  var STORAGE_VISITOR = "switchboard.visitor";
  var STORAGE_CURSOR = "switchboard.cursor";

  var BACKOFF_MAX_MS = 15000; // reconnect after 1 s, 2 s, 4 s, 8 s, then every 15 s
  var PING_EVERY_MS = 25000;
  // No frame at all for this long means the socket died silently (sleeping laptop, NAT timeout).
  // Generous because background tabs may only run timers once a minute.
  var DEAD_AFTER_MS = 90000;
  var TYPING_SEND_EVERY_MS = 2000; // protocol: customer typing at most every 2 s
  var TYPING_IDLE_MS = 3000; // no keystroke for this long = stopped typing
  var REMOTE_TYPING_TIMEOUT_MS = 20000; // hide a bot/agent indicator whose "off" got lost
  var STATE_RANK = { sending: 0, sent: 1, delivered: 2, read: 3 };
  // Refusals caused by the text itself: resending the same text can never succeed.
  var INPUT_ERROR = /too_long|empty/;

  /** Fallback when currentScript is unavailable (e.g. injected by a tag manager callback). */
  function findOwnScript() {
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/\/widget\.js(?:[?#]|$)/.test(scripts[i].src)) return scripts[i];
    }
    return null;
  }

  /** Server origin comes from where this file was loaded, so the widget works on any site. */
  function readConfig(script) {
    var origin = window.location.origin;
    if (script && script.src) {
      try {
        origin = new URL(script.src, window.location.href).origin;
      } catch (e) {
        /* keep the page origin */
      }
    }
    var data = (script && script.dataset) || {};
    var explicitLocale = (data.locale || "").trim();
    var locale = explicitLocale || navigator.language || "en";
    var lang = locale.toLowerCase().split(/[-_]/)[0];
    return {
      wsUrl: origin.replace(/^http/i, "ws") + "/chat/ws",
      locale: locale, // full BCP 47 tag: dates and times
      lang: lang, // primary subtag: UI strings
      helloLocale: explicitLocale || lang, // what the bot should answer in
      title: (data.title || "").trim(),
      startOpen: data.open !== undefined && data.open !== "false" && data.open !== "0",
      // The site's logged-in user, signed by its backend (docs/protocol.md "Identifying a visitor").
      identity: data.email && data.signature
        ? { email: data.email, name: data.name || "", signature: data.signature }
        : null,
      rtl: ["fa", "ar", "he", "ur"].indexOf(lang) !== -1,
    };
  }

  // ------------------------------------------------------------------ UI strings

  // This file is pure ASCII on purpose: a script without a charset is decoded with the host
  // page's encoding (windows-1252, TIS-620, GBK...), which would garble literal Thai or Chinese.
  // Hence the \u escapes below; every language has the same keys as the English block.

  // The chrome around the messages speaks the customer's language. The #sb-status text stays the
  // canonical "online" / "connecting..." / "offline" (a documented test hook); its dot carries meaning.
  var STRINGS = {
    en: {
      title: "Chat with us", open: "Open chat", close: "Close chat", messages: "Messages",
      placeholder: "Type a message\u2026", send: "Send", suggestions: "Suggested answers",
      bot: "Assistant", agent: "Agent", emptyHint: "Hi! Ask us anything, we usually reply right away.",
      typingBot: "Assistant is typing\u2026", typingAgent: "An agent is typing\u2026", typingNamed: "{name} is typing\u2026",
      state_sending: "sending\u2026", state_sent: "sent \u2713", state_delivered: "delivered \u2713\u2713",
      state_read: "read \u2713\u2713", state_failed: "failed",
      retry: "Retry", edit: "Edit", unread: "{n} new",
      errEmpty: "Please type a message first.",
      errTooLong: "Your message is too long. Please shorten it and send again.",
      errGeneric: "Something went wrong. Please try again.",
      feedback: "Was this helpful?",
      idOffer: "Verify your email", idEmail: "Your email address", idSend: "Send code",
      idCodeSent: "Enter the 6-digit code we sent to {email}", idCode: "6-digit code", idVerify: "Verify",
      idChange: "Use another email", idCancel: "Cancel", idDone: "Verified: {email}",
      idWrong: "That code is not right. Please try again.",
      idExpired: "That code has expired. Please ask for a new one.",
      idTooMany: "Too many tries. Please ask for a new code later.", idBadEmail: "Please enter a valid email address.",
    },
    th: { // Thai
      title: "\u0e41\u0e0a\u0e17\u0e01\u0e31\u0e1a\u0e40\u0e23\u0e32", open: "\u0e40\u0e1b\u0e34\u0e14\u0e41\u0e0a\u0e17", close: "\u0e1b\u0e34\u0e14\u0e41\u0e0a\u0e17", messages: "\u0e02\u0e49\u0e2d\u0e04\u0e27\u0e32\u0e21",
      placeholder: "\u0e1e\u0e34\u0e21\u0e1e\u0e4c\u0e02\u0e49\u0e2d\u0e04\u0e27\u0e32\u0e21\u2026", send: "\u0e2a\u0e48\u0e07", suggestions: "\u0e04\u0e33\u0e15\u0e2d\u0e1a\u0e17\u0e35\u0e48\u0e41\u0e19\u0e30\u0e19\u0e33",
      bot: "\u0e1c\u0e39\u0e49\u0e0a\u0e48\u0e27\u0e22", agent: "\u0e40\u0e08\u0e49\u0e32\u0e2b\u0e19\u0e49\u0e32\u0e17\u0e35\u0e48", emptyHint: "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35! \u0e2a\u0e2d\u0e1a\u0e16\u0e32\u0e21\u0e40\u0e23\u0e32\u0e44\u0e14\u0e49\u0e17\u0e38\u0e01\u0e40\u0e23\u0e37\u0e48\u0e2d\u0e07",
      typingBot: "\u0e1c\u0e39\u0e49\u0e0a\u0e48\u0e27\u0e22\u0e01\u0e33\u0e25\u0e31\u0e07\u0e1e\u0e34\u0e21\u0e1e\u0e4c\u2026", typingAgent: "\u0e40\u0e08\u0e49\u0e32\u0e2b\u0e19\u0e49\u0e32\u0e17\u0e35\u0e48\u0e01\u0e33\u0e25\u0e31\u0e07\u0e1e\u0e34\u0e21\u0e1e\u0e4c\u2026", typingNamed: "{name} \u0e01\u0e33\u0e25\u0e31\u0e07\u0e1e\u0e34\u0e21\u0e1e\u0e4c\u2026",
      state_sending: "\u0e01\u0e33\u0e25\u0e31\u0e07\u0e2a\u0e48\u0e07\u2026", state_sent: "\u0e2a\u0e48\u0e07\u0e41\u0e25\u0e49\u0e27 \u2713", state_delivered: "\u0e44\u0e14\u0e49\u0e23\u0e31\u0e1a\u0e41\u0e25\u0e49\u0e27 \u2713\u2713",
      state_read: "\u0e2d\u0e48\u0e32\u0e19\u0e41\u0e25\u0e49\u0e27 \u2713\u2713", state_failed: "\u0e2a\u0e48\u0e07\u0e44\u0e21\u0e48\u0e2a\u0e33\u0e40\u0e23\u0e47\u0e08",
      retry: "\u0e25\u0e2d\u0e07\u0e43\u0e2b\u0e21\u0e48", edit: "\u0e41\u0e01\u0e49\u0e44\u0e02", unread: "\u0e43\u0e2b\u0e21\u0e48 {n}",
      errEmpty: "\u0e01\u0e23\u0e38\u0e13\u0e32\u0e1e\u0e34\u0e21\u0e1e\u0e4c\u0e02\u0e49\u0e2d\u0e04\u0e27\u0e32\u0e21\u0e01\u0e48\u0e2d\u0e19",
      errTooLong: "\u0e02\u0e49\u0e2d\u0e04\u0e27\u0e32\u0e21\u0e22\u0e32\u0e27\u0e40\u0e01\u0e34\u0e19\u0e44\u0e1b \u0e01\u0e23\u0e38\u0e13\u0e32\u0e22\u0e48\u0e2d\u0e43\u0e2b\u0e49\u0e2a\u0e31\u0e49\u0e19\u0e25\u0e07\u0e41\u0e25\u0e49\u0e27\u0e2a\u0e48\u0e07\u0e2d\u0e35\u0e01\u0e04\u0e23\u0e31\u0e49\u0e07",
      errGeneric: "\u0e40\u0e01\u0e34\u0e14\u0e02\u0e49\u0e2d\u0e1c\u0e34\u0e14\u0e1e\u0e25\u0e32\u0e14 \u0e01\u0e23\u0e38\u0e13\u0e32\u0e25\u0e2d\u0e07\u0e43\u0e2b\u0e21\u0e48\u0e2d\u0e35\u0e01\u0e04\u0e23\u0e31\u0e49\u0e07",
      feedback: "\u0e02\u0e49\u0e2d\u0e21\u0e39\u0e25\u0e19\u0e35\u0e49\u0e21\u0e35\u0e1b\u0e23\u0e30\u0e42\u0e22\u0e0a\u0e19\u0e4c\u0e44\u0e2b\u0e21",
      idOffer: "\u0e22\u0e37\u0e19\u0e22\u0e31\u0e19\u0e2d\u0e35\u0e40\u0e21\u0e25\u0e02\u0e2d\u0e07\u0e04\u0e38\u0e13",
      idEmail: "\u0e2d\u0e35\u0e40\u0e21\u0e25\u0e02\u0e2d\u0e07\u0e04\u0e38\u0e13",
      idSend: "\u0e2a\u0e48\u0e07\u0e23\u0e2b\u0e31\u0e2a",
      idCodeSent: "\u0e01\u0e23\u0e2d\u0e01\u0e23\u0e2b\u0e31\u0e2a 6 \u0e2b\u0e25\u0e31\u0e01\u0e17\u0e35\u0e48\u0e40\u0e23\u0e32\u0e2a\u0e48\u0e07\u0e44\u0e1b\u0e17\u0e35\u0e48 {email}",
      idCode: "\u0e23\u0e2b\u0e31\u0e2a 6 \u0e2b\u0e25\u0e31\u0e01", idVerify: "\u0e22\u0e37\u0e19\u0e22\u0e31\u0e19",
      idChange: "\u0e43\u0e0a\u0e49\u0e2d\u0e35\u0e40\u0e21\u0e25\u0e2d\u0e37\u0e48\u0e19",
      idCancel: "\u0e22\u0e01\u0e40\u0e25\u0e34\u0e01",
      idDone: "\u0e22\u0e37\u0e19\u0e22\u0e31\u0e19\u0e41\u0e25\u0e49\u0e27: {email}",
      idWrong: "\u0e23\u0e2b\u0e31\u0e2a\u0e44\u0e21\u0e48\u0e16\u0e39\u0e01\u0e15\u0e49\u0e2d\u0e07 \u0e01\u0e23\u0e38\u0e13\u0e32\u0e25\u0e2d\u0e07\u0e2d\u0e35\u0e01\u0e04\u0e23\u0e31\u0e49\u0e07",
      idExpired: "\u0e23\u0e2b\u0e31\u0e2a\u0e2b\u0e21\u0e14\u0e2d\u0e32\u0e22\u0e38\u0e41\u0e25\u0e49\u0e27 \u0e01\u0e23\u0e38\u0e13\u0e32\u0e02\u0e2d\u0e23\u0e2b\u0e31\u0e2a\u0e43\u0e2b\u0e21\u0e48",
      idTooMany: "\u0e25\u0e2d\u0e07\u0e2b\u0e25\u0e32\u0e22\u0e04\u0e23\u0e31\u0e49\u0e07\u0e40\u0e01\u0e34\u0e19\u0e44\u0e1b \u0e01\u0e23\u0e38\u0e13\u0e32\u0e02\u0e2d\u0e23\u0e2b\u0e31\u0e2a\u0e43\u0e2b\u0e21\u0e48\u0e20\u0e32\u0e22\u0e2b\u0e25\u0e31\u0e07",
      idBadEmail: "\u0e01\u0e23\u0e38\u0e13\u0e32\u0e01\u0e23\u0e2d\u0e01\u0e2d\u0e35\u0e40\u0e21\u0e25\u0e17\u0e35\u0e48\u0e16\u0e39\u0e01\u0e15\u0e49\u0e2d\u0e07",
    },
    zh: { // Simplified Chinese
      title: "\u5728\u7ebf\u5ba2\u670d", open: "\u6253\u5f00\u804a\u5929", close: "\u5173\u95ed\u804a\u5929", messages: "\u6d88\u606f",
      placeholder: "\u8f93\u5165\u6d88\u606f\u2026", send: "\u53d1\u9001", suggestions: "\u63a8\u8350\u7b54\u6848",
      bot: "\u667a\u80fd\u52a9\u624b", agent: "\u5ba2\u670d", emptyHint: "\u60a8\u597d\uff01\u6709\u4ec0\u4e48\u53ef\u4ee5\u5e2e\u60a8\uff1f",
      typingBot: "\u667a\u80fd\u52a9\u624b\u6b63\u5728\u8f93\u5165\u2026", typingAgent: "\u5ba2\u670d\u6b63\u5728\u8f93\u5165\u2026", typingNamed: "{name} \u6b63\u5728\u8f93\u5165\u2026",
      state_sending: "\u53d1\u9001\u4e2d\u2026", state_sent: "\u5df2\u53d1\u9001 \u2713", state_delivered: "\u5df2\u9001\u8fbe \u2713\u2713",
      state_read: "\u5df2\u8bfb \u2713\u2713", state_failed: "\u53d1\u9001\u5931\u8d25",
      retry: "\u91cd\u8bd5", edit: "\u7f16\u8f91", unread: "{n} \u6761\u65b0\u6d88\u606f",
      errEmpty: "\u8bf7\u5148\u8f93\u5165\u6d88\u606f\u3002",
      errTooLong: "\u6d88\u606f\u8fc7\u957f\uff0c\u8bf7\u7f29\u77ed\u540e\u518d\u53d1\u9001\u3002",
      errGeneric: "\u51fa\u9519\u4e86\uff0c\u8bf7\u91cd\u8bd5\u3002",
      feedback: "\u8fd9\u6709\u5e2e\u52a9\u5417\uff1f",
      idOffer: "\u9a8c\u8bc1\u60a8\u7684\u90ae\u7bb1", idEmail: "\u60a8\u7684\u90ae\u7bb1\u5730\u5740",
      idSend: "\u53d1\u9001\u9a8c\u8bc1\u7801",
      idCodeSent: "\u8bf7\u8f93\u5165\u6211\u4eec\u53d1\u9001\u5230 {email} \u7684 6 \u4f4d\u9a8c\u8bc1\u7801",
      idCode: "6 \u4f4d\u9a8c\u8bc1\u7801", idVerify: "\u9a8c\u8bc1", idChange: "\u4f7f\u7528\u5176\u4ed6\u90ae\u7bb1",
      idCancel: "\u53d6\u6d88", idDone: "\u5df2\u9a8c\u8bc1\uff1a{email}",
      idWrong: "\u9a8c\u8bc1\u7801\u4e0d\u6b63\u786e\uff0c\u8bf7\u91cd\u8bd5\u3002",
      idExpired: "\u9a8c\u8bc1\u7801\u5df2\u8fc7\u671f\uff0c\u8bf7\u91cd\u65b0\u83b7\u53d6\u3002",
      idTooMany: "\u5c1d\u8bd5\u6b21\u6570\u8fc7\u591a\uff0c\u8bf7\u7a0d\u540e\u91cd\u65b0\u83b7\u53d6\u9a8c\u8bc1\u7801\u3002",
      idBadEmail: "\u8bf7\u8f93\u5165\u6709\u6548\u7684\u90ae\u7bb1\u5730\u5740\u3002",
    },
    fa: { // Persian
      title: "\u06af\u0641\u062a\u06af\u0648 \u0628\u0627 \u0645\u0627", open: "\u0628\u0627\u0632 \u06a9\u0631\u062f\u0646 \u06af\u0641\u062a\u06af\u0648", close: "\u0628\u0633\u062a\u0646 \u06af\u0641\u062a\u06af\u0648", messages: "\u067e\u06cc\u0627\u0645\u200c\u0647\u0627",
      placeholder: "\u067e\u06cc\u0627\u0645 \u062e\u0648\u062f \u0631\u0627 \u0628\u0646\u0648\u06cc\u0633\u06cc\u062f\u2026", send: "\u0627\u0631\u0633\u0627\u0644", suggestions: "\u067e\u0627\u0633\u062e\u200c\u0647\u0627\u06cc \u067e\u06cc\u0634\u0646\u0647\u0627\u062f\u06cc",
      bot: "\u062f\u0633\u062a\u06cc\u0627\u0631", agent: "\u067e\u0634\u062a\u06cc\u0628\u0627\u0646", emptyHint: "\u0633\u0644\u0627\u0645! \u0647\u0631 \u0633\u0624\u0627\u0644\u06cc \u062f\u0627\u0631\u06cc\u062f \u0628\u067e\u0631\u0633\u06cc\u062f.",
      typingBot: "\u062f\u0633\u062a\u06cc\u0627\u0631 \u062f\u0631 \u062d\u0627\u0644 \u0646\u0648\u0634\u062a\u0646 \u0627\u0633\u062a\u2026", typingAgent: "\u067e\u0634\u062a\u06cc\u0628\u0627\u0646 \u062f\u0631 \u062d\u0627\u0644 \u0646\u0648\u0634\u062a\u0646 \u0627\u0633\u062a\u2026",
      typingNamed: "{name} \u062f\u0631 \u062d\u0627\u0644 \u0646\u0648\u0634\u062a\u0646 \u0627\u0633\u062a\u2026",
      state_sending: "\u062f\u0631 \u062d\u0627\u0644 \u0627\u0631\u0633\u0627\u0644\u2026", state_sent: "\u0627\u0631\u0633\u0627\u0644 \u0634\u062f \u2713", state_delivered: "\u062a\u062d\u0648\u06cc\u0644 \u0634\u062f \u2713\u2713",
      state_read: "\u062e\u0648\u0627\u0646\u062f\u0647 \u0634\u062f \u2713\u2713", state_failed: "\u0627\u0631\u0633\u0627\u0644 \u0646\u0634\u062f",
      retry: "\u062a\u0644\u0627\u0634 \u062f\u0648\u0628\u0627\u0631\u0647", edit: "\u0648\u06cc\u0631\u0627\u06cc\u0634", unread: "{n} \u067e\u06cc\u0627\u0645 \u062c\u062f\u06cc\u062f",
      errEmpty: "\u0644\u0637\u0641\u0627\u064b \u0627\u0628\u062a\u062f\u0627 \u067e\u06cc\u0627\u0645\u06cc \u0628\u0646\u0648\u06cc\u0633\u06cc\u062f.",
      errTooLong: "\u067e\u06cc\u0627\u0645 \u0634\u0645\u0627 \u062e\u06cc\u0644\u06cc \u0637\u0648\u0644\u0627\u0646\u06cc \u0627\u0633\u062a. \u0644\u0637\u0641\u0627\u064b \u0622\u0646 \u0631\u0627 \u06a9\u0648\u062a\u0627\u0647\u200c\u062a\u0631 \u06a9\u0646\u06cc\u062f \u0648 \u062f\u0648\u0628\u0627\u0631\u0647 \u0628\u0641\u0631\u0633\u062a\u06cc\u062f.",
      errGeneric: "\u0645\u0634\u06a9\u0644\u06cc \u067e\u06cc\u0634 \u0622\u0645\u062f. \u0644\u0637\u0641\u0627\u064b \u062f\u0648\u0628\u0627\u0631\u0647 \u062a\u0644\u0627\u0634 \u06a9\u0646\u06cc\u062f.",
      feedback: "\u0622\u06cc\u0627 \u0627\u06cc\u0646 \u067e\u0627\u0633\u062e \u0645\u0641\u06cc\u062f \u0628\u0648\u062f\u061f",
      idOffer: "\u0627\u06cc\u0645\u06cc\u0644 \u062e\u0648\u062f \u0631\u0627 \u062a\u0623\u06cc\u06cc\u062f \u06a9\u0646\u06cc\u062f",
      idEmail: "\u0646\u0634\u0627\u0646\u06cc \u0627\u06cc\u0645\u06cc\u0644 \u0634\u0645\u0627",
      idSend: "\u0627\u0631\u0633\u0627\u0644 \u06a9\u062f",
      idCodeSent: "\u06a9\u062f \u06f6 \u0631\u0642\u0645\u06cc \u0627\u0631\u0633\u0627\u0644\u200c\u0634\u062f\u0647 \u0628\u0647 {email} \u0631\u0627 \u0648\u0627\u0631\u062f \u06a9\u0646\u06cc\u062f",
      idCode: "\u06a9\u062f \u06f6 \u0631\u0642\u0645\u06cc", idVerify: "\u062a\u0623\u06cc\u06cc\u062f",
      idChange: "\u0627\u0633\u062a\u0641\u0627\u062f\u0647 \u0627\u0632 \u0627\u06cc\u0645\u06cc\u0644 \u062f\u06cc\u06af\u0631",
      idCancel: "\u0627\u0646\u0635\u0631\u0627\u0641", idDone: "\u062a\u0623\u06cc\u06cc\u062f \u0634\u062f: {email}",
      idWrong: "\u0627\u06cc\u0646 \u06a9\u062f \u062f\u0631\u0633\u062a \u0646\u06cc\u0633\u062a. \u0644\u0637\u0641\u0627\u064b \u062f\u0648\u0628\u0627\u0631\u0647 \u062a\u0644\u0627\u0634 \u06a9\u0646\u06cc\u062f.",
      idExpired: "\u0627\u06cc\u0646 \u06a9\u062f \u0645\u0646\u0642\u0636\u06cc \u0634\u062f\u0647 \u0627\u0633\u062a. \u0644\u0637\u0641\u0627\u064b \u06a9\u062f \u062c\u062f\u06cc\u062f\u06cc \u062f\u0631\u062e\u0648\u0627\u0633\u062a \u06a9\u0646\u06cc\u062f.",
      idTooMany: "\u062a\u0644\u0627\u0634\u200c\u0647\u0627\u06cc \u0632\u06cc\u0627\u062f\u06cc \u0627\u0646\u062c\u0627\u0645 \u0634\u062f. \u0644\u0637\u0641\u0627\u064b \u0628\u0639\u062f\u0627\u064b \u06a9\u062f \u062c\u062f\u06cc\u062f\u06cc \u062f\u0631\u062e\u0648\u0627\u0633\u062a \u06a9\u0646\u06cc\u062f.",
      idBadEmail: "\u0644\u0637\u0641\u0627\u064b \u06cc\u06a9 \u0646\u0634\u0627\u0646\u06cc \u0627\u06cc\u0645\u06cc\u0644 \u0645\u0639\u062a\u0628\u0631 \u0648\u0627\u0631\u062f \u06a9\u0646\u06cc\u062f.",
    },
    ar: { // Arabic
      title: "\u062a\u062d\u062f\u062b \u0645\u0639\u0646\u0627", open: "\u0641\u062a\u062d \u0627\u0644\u0645\u062d\u0627\u062f\u062b\u0629", close: "\u0625\u063a\u0644\u0627\u0642 \u0627\u0644\u0645\u062d\u0627\u062f\u062b\u0629", messages: "\u0627\u0644\u0631\u0633\u0627\u0626\u0644",
      placeholder: "\u0627\u0643\u062a\u0628 \u0631\u0633\u0627\u0644\u0629\u2026", send: "\u0625\u0631\u0633\u0627\u0644", suggestions: "\u0625\u062c\u0627\u0628\u0627\u062a \u0645\u0642\u062a\u0631\u062d\u0629",
      bot: "\u0627\u0644\u0645\u0633\u0627\u0639\u062f", agent: "\u0645\u0648\u0638\u0641 \u0627\u0644\u062f\u0639\u0645", emptyHint: "\u0645\u0631\u062d\u0628\u064b\u0627! \u0627\u0633\u0623\u0644\u0646\u0627 \u0639\u0646 \u0623\u064a \u0634\u064a\u0621.",
      typingBot: "\u0627\u0644\u0645\u0633\u0627\u0639\u062f \u064a\u0643\u062a\u0628\u2026", typingAgent: "\u0645\u0648\u0638\u0641 \u0627\u0644\u062f\u0639\u0645 \u064a\u0643\u062a\u0628\u2026", typingNamed: "{name} \u064a\u0643\u062a\u0628\u2026",
      state_sending: "\u062c\u0627\u0631\u064d \u0627\u0644\u0625\u0631\u0633\u0627\u0644\u2026", state_sent: "\u062a\u0645 \u0627\u0644\u0625\u0631\u0633\u0627\u0644 \u2713", state_delivered: "\u062a\u0645 \u0627\u0644\u062a\u0633\u0644\u064a\u0645 \u2713\u2713",
      state_read: "\u062a\u0645\u062a \u0627\u0644\u0642\u0631\u0627\u0621\u0629 \u2713\u2713", state_failed: "\u0641\u0634\u0644 \u0627\u0644\u0625\u0631\u0633\u0627\u0644",
      retry: "\u0625\u0639\u0627\u062f\u0629 \u0627\u0644\u0645\u062d\u0627\u0648\u0644\u0629", edit: "\u062a\u0639\u062f\u064a\u0644", unread: "{n} \u062c\u062f\u064a\u062f\u0629",
      errEmpty: "\u064a\u064f\u0631\u062c\u0649 \u0643\u062a\u0627\u0628\u0629 \u0631\u0633\u0627\u0644\u0629 \u0623\u0648\u0644\u064b\u0627.",
      errTooLong: "\u0631\u0633\u0627\u0644\u062a\u0643 \u0637\u0648\u064a\u0644\u0629 \u062c\u062f\u064b\u0627. \u064a\u064f\u0631\u062c\u0649 \u0627\u062e\u062a\u0635\u0627\u0631\u0647\u0627 \u062b\u0645 \u0625\u0631\u0633\u0627\u0644\u0647\u0627 \u0645\u0631\u0629 \u0623\u062e\u0631\u0649.",
      errGeneric: "\u062d\u062f\u062b \u062e\u0637\u0623 \u0645\u0627. \u064a\u064f\u0631\u062c\u0649 \u0627\u0644\u0645\u062d\u0627\u0648\u0644\u0629 \u0645\u0631\u0629 \u0623\u062e\u0631\u0649.",
      feedback: "\u0647\u0644 \u0643\u0627\u0646 \u0647\u0630\u0627 \u0645\u0641\u064a\u062f\u064b\u0627\u061f",
      idOffer: "\u062a\u062d\u0642\u0642 \u0645\u0646 \u0628\u0631\u064a\u062f\u0643 \u0627\u0644\u0625\u0644\u0643\u062a\u0631\u0648\u0646\u064a",
      idEmail: "\u0639\u0646\u0648\u0627\u0646 \u0628\u0631\u064a\u062f\u0643 \u0627\u0644\u0625\u0644\u0643\u062a\u0631\u0648\u0646\u064a",
      idSend: "\u0625\u0631\u0633\u0627\u0644 \u0627\u0644\u0631\u0645\u0632",
      idCodeSent: "\u0623\u062f\u062e\u0644 \u0627\u0644\u0631\u0645\u0632 \u0627\u0644\u0645\u0643\u0648\u0651\u0646 \u0645\u0646 6 \u0623\u0631\u0642\u0627\u0645 \u0627\u0644\u0630\u064a \u0623\u0631\u0633\u0644\u0646\u0627\u0647 \u0625\u0644\u0649 {email}",
      idCode: "\u0631\u0645\u0632 \u0645\u0646 6 \u0623\u0631\u0642\u0627\u0645", idVerify: "\u062a\u062d\u0642\u0642",
      idChange: "\u0627\u0633\u062a\u062e\u062f\u0627\u0645 \u0628\u0631\u064a\u062f \u0622\u062e\u0631",
      idCancel: "\u0625\u0644\u063a\u0627\u0621", idDone: "\u062a\u0645 \u0627\u0644\u062a\u062d\u0642\u0642: {email}",
      idWrong: "\u0627\u0644\u0631\u0645\u0632 \u063a\u064a\u0631 \u0635\u062d\u064a\u062d. \u064a\u064f\u0631\u062c\u0649 \u0627\u0644\u0645\u062d\u0627\u0648\u0644\u0629 \u0645\u0631\u0629 \u0623\u062e\u0631\u0649.",
      idExpired: "\u0627\u0646\u062a\u0647\u062a \u0635\u0644\u0627\u062d\u064a\u0629 \u0627\u0644\u0631\u0645\u0632. \u064a\u064f\u0631\u062c\u0649 \u0637\u0644\u0628 \u0631\u0645\u0632 \u062c\u062f\u064a\u062f.",
      idTooMany: "\u0645\u062d\u0627\u0648\u0644\u0627\u062a \u0643\u062b\u064a\u0631\u0629 \u062c\u062f\u064b\u0627. \u064a\u064f\u0631\u062c\u0649 \u0637\u0644\u0628 \u0631\u0645\u0632 \u062c\u062f\u064a\u062f \u0644\u0627\u062d\u0642\u064b\u0627.",
      idBadEmail: "\u064a\u064f\u0631\u062c\u0649 \u0625\u062f\u062e\u0627\u0644 \u0639\u0646\u0648\u0627\u0646 \u0628\u0631\u064a\u062f \u0625\u0644\u0643\u062a\u0631\u0648\u0646\u064a \u0635\u062d\u064a\u062d.",
    },
  };
  var T = Object.assign({}, STRINGS.en, STRINGS[CONFIG.lang] || {});

  /** Translated string; {name} placeholders are replaced literally (a function, so "$&" stays text). */
  function t(key, vars) {
    var text = T[key] || key;
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, function (match, name) {
      return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : match;
    });
  }

  // ------------------------------------------------------------------ small utilities

  // localStorage throws in sandboxed iframes and some private modes; fall back to memory so the
  // chat still works for this page view.
  var memoryStore = {};
  var store = {
    get: function (key) {
      try {
        var value = window.localStorage.getItem(key);
        if (value !== null) return value;
      } catch (e) {
        /* unavailable */
      }
      return Object.prototype.hasOwnProperty.call(memoryStore, key) ? memoryStore[key] : null;
    },
    set: function (key, value) {
      memoryStore[key] = String(value);
      try {
        window.localStorage.setItem(key, String(value));
      } catch (e) {
        /* unavailable */
      }
    },
  };

  /** RFC 4122 v4 id. crypto.randomUUID only exists on https pages, hence the fallback. */
  function uuid() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  /**
   * Element factory. Attributes go through setAttribute and string children become text nodes,
   * so nothing handed to it is ever parsed as HTML.
   */
  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    [].concat(children === undefined ? [] : children).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  /** Inline SVG icon from a constant path (never from data). */
  function icon(pathData, className) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    if (className) svg.setAttribute("class", className);
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", pathData);
    svg.appendChild(path);
    return svg;
  }
  var ICON_CHAT = "M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zM7 9h10v2H7zm0-3h10v2H7zm0 6h7v2H7z";
  var ICON_SEND = "M3.4 20.4 20.85 12.92a1 1 0 0 0 0-1.84L3.4 3.6a1 1 0 0 0-1.39 1.2L4 11l9 1-9 1-1.99 6.2a1 1 0 0 0 1.39 1.2z";
  var ICON_CLOSE = "M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z";

  var timeFormatters = {};
  /** Time of a message in the customer's locale (Thai and Persian get their own calendars/digits). */
  function formatTime(iso) {
    var date = new Date(iso);
    if (!iso || isNaN(date.getTime())) return "";
    var today = date.toDateString() === new Date().toDateString();
    var key = today ? "time" : "datetime";
    if (!timeFormatters[key]) {
      var options = today
        ? { hour: "numeric", minute: "2-digit" }
        : { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
      try {
        timeFormatters[key] = new Intl.DateTimeFormat(CONFIG.locale, options);
      } catch (e) {
        timeFormatters[key] = new Intl.DateTimeFormat(undefined, options); // invalid data-locale tag
      }
    }
    return timeFormatters[key].format(date);
  }

  // ------------------------------------------------------------------ state

  var state = {
    ws: null,
    ready: false, // welcome received on the current socket: message frames may flow
    attempt: 0, // reconnect attempts since the last welcome (drives the backoff)
    reconnectTimer: null,
    pingTimer: null,
    lastFrameAt: 0,
    open: false,
    unread: 0,
    byId: new Map(), // server message id -> rendered .sb-msg (dedupe + status updates)
    outbox: new Map(), // client_id -> {clientId, text, state, inflight, errorCode, el}; insertion order = send order
    earlyStatus: new Map(), // message id -> state, for a status that overtook its message
    deliveredIds: new Set(), // receipts waiting to be batched into one "delivered" frame
    deliveredTimer: null,
    typingSent: false, // we told the server the customer is typing
    typingSentAt: 0,
    typingIdleTimer: null,
    remoteTyping: { bot: { on: false, name: "", timer: null }, agent: { on: false, name: "", timer: null } },
    // Who the visitor is: the server's welcome.identity, and where the email form stands
    // ("offer", "email", "code", "done"); hasConversation: the offer waits for a first message.
    identity: null,
    idStage: "offer",
    idEmail: "",
    hasConversation: false,
  };

  var ui = {}; // element references, filled by buildUi()

  // ------------------------------------------------------------------ building the UI

  function buildUi() {
    var host = document.createElement("switchboard-chat"); // custom tag: site rules for div/section miss it
    var root = host.attachShadow({ mode: "open" });
    installStyles(root);

    ui.badge = h("span", { class: "sb-badge", hidden: true, "aria-hidden": "true" });
    ui.launcher = h(
      "button",
      { id: "sb-launcher", class: "sb-launcher", type: "button", "aria-label": t("open"),
        "aria-expanded": "false", "aria-controls": "sb-panel" },
      [icon(ICON_CHAT, "sb-icon-chat"), icon(ICON_CLOSE, "sb-icon-close"), ui.badge]
    );

    ui.status = h("span", { id: "sb-status", class: "sb-status" }, "connecting\u2026");
    ui.closeButton = h("button", { class: "sb-close", type: "button", "aria-label": t("close"), title: t("close") }, icon(ICON_CLOSE));
    var header = h("header", { class: "sb-header" }, [
      h("div", { class: "sb-heading" }, [
        h("h2", { id: "sb-title", class: "sb-title", dir: "auto" }, CONFIG.title || t("title")),
        h("div", { class: "sb-conn" }, [h("span", { class: "sb-dot", "aria-hidden": "true" }), ui.status]),
      ]),
      ui.closeButton,
    ]);

    ui.messages = h("div", { id: "sb-messages", class: "sb-messages", role: "log", "aria-live": "polite",
      "aria-label": t("messages"), tabindex: "0" });
    ui.empty = h("p", { class: "sb-empty", dir: "auto" }, t("emptyHint"));
    var body = h("div", { class: "sb-body" }, [ui.messages, ui.empty]);

    ui.typingText = h("span", { dir: "auto" });
    ui.typing = h("div", { id: "sb-typing", class: "sb-typing", hidden: true, "aria-live": "polite" }, [
      h("span", { class: "sb-dots", "aria-hidden": "true" }, [h("i"), h("i"), h("i")]),
      ui.typingText,
    ]);

    ui.idbar = h("div", { id: "sb-idbar", class: "sb-idbar", hidden: true });

    ui.input = h("textarea", { id: "sb-input", class: "sb-input", rows: "1", dir: "auto", placeholder: t("placeholder"),
      "aria-label": t("placeholder"), autocomplete: "off", enterkeyhint: "send" });
    ui.send = h("button", { id: "sb-send", class: "sb-send", type: "submit", "aria-label": t("send"), title: t("send") }, icon(ICON_SEND));
    ui.error = h("p", { id: "sb-error", class: "sb-error", role: "alert", dir: "auto", hidden: true });
    ui.form = h("form", { class: "sb-composer", novalidate: true }, [
      h("div", { class: "sb-inputrow" }, [ui.input, ui.send]),
      ui.error,
    ]);

    ui.panel = h("section", { id: "sb-panel", class: "sb-panel", role: "dialog", "aria-labelledby": "sb-title",
      hidden: true, dir: CONFIG.rtl ? "rtl" : "ltr", lang: CONFIG.locale, "data-conn": "connecting" },
      [header, body, ui.typing, ui.idbar, ui.form]);

    ui.wrapper = h("div", { class: "sb-root", lang: CONFIG.locale }, [ui.panel, ui.launcher]);
    root.appendChild(ui.wrapper);
    ui.root = root;
    (document.body || document.documentElement).appendChild(host);
    wireEvents();
    return root;
  }

  function wireEvents() {
    ui.launcher.addEventListener("click", function () {
      if (state.open) closePanel();
      else openPanel(true);
    });
    ui.closeButton.addEventListener("click", closePanel);
    ui.panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.stopPropagation();
        closePanel();
      }
    });
    ui.form.addEventListener("submit", function (event) {
      event.preventDefault();
      submitInput();
    });
    ui.input.addEventListener("keydown", onInputKeydown);
    ui.input.addEventListener("input", onInputActivity);
    ui.input.addEventListener("blur", stopTyping);
    // Hand-made messages of a failed bubble: one delegated listener instead of one per button.
    ui.messages.addEventListener("click", onMessagesClick);
    window.addEventListener("online", reconnectNow);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && !state.ws) reconnectNow();
    });
  }

  // ------------------------------------------------------------------ styles

  var CSS = [
    ":host{all:initial}",
    ".sb-root{--sb-accent:#4f46e5;--sb-accent-dark:#4338ca;--sb-ink:#1e293b;--sb-muted:#64748b;--sb-line:#e2e8f0;",
    "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue','Noto Sans',Arial,",
    "'Noto Sans Thai','Leelawadee UI',Thonburi,Tahoma,",
    "'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC',",
    "Vazirmatn,'Noto Sans Arabic','Geeza Pro','Segoe UI Historic',sans-serif,",
    "'Apple Color Emoji','Segoe UI Emoji','Noto Color Emoji';",
    // Thai stacks vowels and tone marks above and below: it needs the extra line height.
    "font-size:15px;line-height:1.55;color:var(--sb-ink);-webkit-font-smoothing:antialiased;text-align:start}",
    "*,*::before,*::after{box-sizing:border-box}",
    "[hidden]{display:none!important}",
    "button{font:inherit;color:inherit}",
    "button:focus-visible,textarea:focus-visible,.sb-messages:focus-visible{outline:3px solid #a5b4fc;outline-offset:2px}",

    ".sb-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:60px;height:60px;border:0;",
    "border-radius:50%;background:var(--sb-accent);color:#fff;cursor:pointer;display:grid;place-items:center;",
    "box-shadow:0 6px 20px rgba(15,23,42,.28);transition:transform .15s ease,background .15s ease}",
    ".sb-launcher:hover{background:var(--sb-accent-dark);transform:scale(1.05)}",
    ".sb-launcher svg{width:28px;height:28px;fill:currentColor}",
    ".sb-launcher .sb-icon-close,.sb-is-open .sb-launcher .sb-icon-chat{display:none}",
    ".sb-is-open .sb-launcher .sb-icon-close{display:block}",
    ".sb-badge{position:absolute;top:-3px;right:-3px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;",
    "background:#dc2626;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;",
    "border:2px solid #fff}",

    ".sb-panel{position:fixed;right:20px;bottom:92px;z-index:2147483001;width:380px;max-width:calc(100vw - 40px);",
    "height:600px;max-height:calc(100vh - 112px);display:flex;flex-direction:column;background:#fff;",
    "border-radius:16px;overflow:hidden;box-shadow:0 16px 48px rgba(15,23,42,.28),0 0 0 1px rgba(15,23,42,.06);",
    "animation:sb-in .18s ease-out}",
    "@keyframes sb-in{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}",

    ".sb-header{display:flex;align-items:center;gap:8px;padding:14px 12px 14px 18px;background:var(--sb-accent);color:#fff}",
    ".sb-panel[dir=rtl] .sb-header{padding:14px 18px 14px 12px}",
    ".sb-heading{flex:1;min-width:0}",
    ".sb-title{margin:0;font-size:16px;font-weight:650;line-height:1.3;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}",
    ".sb-conn{display:flex;align-items:center;gap:6px;font-size:12px;opacity:.92}",
    ".sb-dot{width:8px;height:8px;border-radius:50%;background:#fbbf24;flex:none}",
    ".sb-panel[data-conn=online] .sb-dot{background:#4ade80}",
    ".sb-panel[data-conn=offline] .sb-dot{background:#f87171}",
    ".sb-close{flex:none;width:36px;height:36px;border:0;border-radius:8px;background:transparent;color:#fff;",
    "cursor:pointer;display:grid;place-items:center}",
    ".sb-close:hover{background:rgba(255,255,255,.16)}",
    ".sb-close svg{width:22px;height:22px;fill:currentColor}",

    ".sb-body{position:relative;flex:1;min-height:0;background:#f8fafc}",
    ".sb-messages{position:absolute;inset:0;overflow-y:auto;overscroll-behavior:contain;padding:16px 14px;",
    "display:flex;flex-direction:column;gap:10px}",
    ".sb-empty{position:absolute;inset:0;margin:0;padding:32px;display:grid;place-items:center;text-align:center;",
    "color:var(--sb-muted);pointer-events:none}",

    ".sb-msg{display:flex;flex-direction:column;align-items:flex-start;gap:3px;max-width:85%;align-self:flex-start}",
    ".sb-msg.sb-customer{align-self:flex-end;align-items:flex-end}",
    ".sb-msg.sb-system{align-self:center;align-items:center;max-width:92%}",
    ".sb-text{padding:8px 13px;border-radius:16px;background:#fff;border:1px solid var(--sb-line);",
    "white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%}",
    ".sb-customer .sb-text{background:var(--sb-accent);border-color:var(--sb-accent);color:#fff;border-end-end-radius:5px}",
    ".sb-bot .sb-text{border-end-start-radius:5px}",
    ".sb-agent .sb-text{background:#ecfdf5;border-color:#a7f3d0;border-end-start-radius:5px}",
    ".sb-system .sb-text{background:transparent;border:0;padding:0 8px;color:var(--sb-muted);font-size:12.5px;text-align:center}",
    ".sb-customer[data-state=failed] .sb-text{background:#fff;color:var(--sb-ink);border-color:#fca5a5}",
    ".sb-customer[data-state=sending] .sb-text{opacity:.75}",
    ".sb-name{font-size:12px;font-weight:600;color:var(--sb-muted);padding:0 4px}",
    ".sb-meta{display:flex;align-items:center;gap:6px;font-size:11px;color:#94a3b8;padding:0 4px}",
    ".sb-system .sb-meta{display:none}",
    ".sb-state[data-state=read]{color:var(--sb-accent)}",
    ".sb-state[data-state=failed]{color:#dc2626;font-weight:600}",
    ".sb-retry{border:0;background:none;padding:0;color:var(--sb-accent);text-decoration:underline;cursor:pointer;font-size:11px}",
    ".sb-suggestions{display:flex;flex-wrap:wrap;gap:6px;margin-top:4px}",
    ".sb-suggestion{border:1px solid var(--sb-accent);background:#fff;color:var(--sb-accent);border-radius:999px;",
    "padding:5px 12px;font-size:13px;line-height:1.4;cursor:pointer;text-align:start;max-width:100%;overflow-wrap:anywhere}",
    ".sb-suggestion:hover{background:#eef2ff}",
    ".sb-feedback{display:flex;flex-wrap:wrap;gap:6px;margin-top:2px}",
    ".sb-vote{border:1px solid var(--sb-line);background:#fff;border-radius:999px;padding:3px 11px;",
    "font-size:13px;line-height:1.4;cursor:pointer}",
    ".sb-vote:hover{border-color:var(--sb-accent)}",
    ".sb-vote[aria-pressed=true]{border-color:var(--sb-accent);background:#eef2ff;color:var(--sb-accent)}",

    ".sb-typing{display:flex;align-items:center;gap:8px;padding:4px 18px 6px;font-size:12px;color:var(--sb-muted);background:#f8fafc}",
    ".sb-dots{display:inline-flex;gap:3px}",
    ".sb-dots i{width:6px;height:6px;border-radius:50%;background:#94a3b8;animation:sb-blink 1.2s infinite ease-in-out}",
    ".sb-dots i:nth-child(2){animation-delay:.2s}.sb-dots i:nth-child(3){animation-delay:.4s}",
    "@keyframes sb-blink{0%,80%,100%{opacity:.3;transform:translateY(0)}40%{opacity:1;transform:translateY(-2px)}}",

    ".sb-composer{padding:10px 12px 12px;border-top:1px solid var(--sb-line);background:#fff}",
    ".sb-inputrow{display:flex;align-items:flex-end;gap:8px}",
    ".sb-input{flex:1;min-width:0;resize:none;min-height:44px;max-height:140px;padding:10px 12px;border:1px solid #cbd5e1;",
    "border-radius:12px;font:inherit;line-height:1.45;color:inherit;background:#fff;outline:none}",
    ".sb-input:focus{border-color:var(--sb-accent);box-shadow:0 0 0 3px rgba(79,70,229,.18)}",
    ".sb-send{flex:none;width:44px;height:44px;border:0;border-radius:12px;background:var(--sb-accent);color:#fff;",
    "cursor:pointer;display:grid;place-items:center}",
    ".sb-send:hover{background:var(--sb-accent-dark)}",
    ".sb-send svg{width:20px;height:20px;fill:currentColor}",
    ".sb-panel[dir=rtl] .sb-send svg{transform:scaleX(-1)}",
    ".sb-error{margin:6px 4px 0;font-size:12.5px;color:#b91c1c}",

    ".sb-idbar{padding:8px 12px;border-top:1px solid var(--sb-line);background:#fff;font-size:13px}",
    ".sb-idrow{display:flex;align-items:center;gap:6px;flex-wrap:wrap}",
    ".sb-idrow input{flex:1;min-width:0;padding:6px 10px;border:1px solid #cbd5e1;border-radius:8px;font:inherit;outline:none}",
    ".sb-idrow input:focus{border-color:var(--sb-accent);box-shadow:0 0 0 3px rgba(79,70,229,.18)}",
    ".sb-idbtn{border:0;border-radius:8px;background:var(--sb-accent);color:#fff;padding:6px 12px;cursor:pointer;font-size:13px}",
    ".sb-idlink{border:0;background:none;padding:0;color:var(--sb-accent);text-decoration:underline;cursor:pointer;font-size:13px}",
    ".sb-idnote{margin:0 0 6px;color:var(--sb-muted)}",
    ".sb-iddone{margin:0;color:#047857}",
    ".sb-iderror{margin:6px 0 0;color:#b91c1c}",

    // Phones: the panel takes the whole screen (16px input text keeps iOS from zooming in).
    "@media (max-width:480px){",
    ".sb-panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}",
    ".sb-root.sb-is-open .sb-launcher{display:none}",
    ".sb-input{font-size:16px}}",
    "@media (prefers-reduced-motion:reduce){.sb-panel,.sb-dots i{animation:none}.sb-launcher{transition:none}}",
  ].join("\n");

  /** Constructable stylesheets are not blocked by a site's strict style-src CSP; <style> is the fallback. */
  function installStyles(root) {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.appendChild(h("style", null, CSS));
    }
  }

  // ------------------------------------------------------------------ panel

  function openPanel(focusInput) {
    if (!state.open) {
      state.open = true;
      ui.panel.hidden = false;
      ui.wrapper.classList.add("sb-is-open");
      ui.launcher.setAttribute("aria-expanded", "true");
      ui.launcher.setAttribute("aria-label", t("close"));
    }
    state.unread = 0;
    updateBadge();
    scrollToBottom();
    // Not on page load (data-open): stealing focus from the site would be rude to keyboard users.
    if (focusInput) ui.input.focus({ preventScroll: true });
  }

  function closePanel() {
    if (!state.open) return;
    var hadFocus = ui.panel.contains(ui.root.activeElement);
    state.open = false;
    ui.panel.hidden = true;
    ui.wrapper.classList.remove("sb-is-open");
    ui.launcher.setAttribute("aria-expanded", "false");
    updateBadge();
    stopTyping();
    if (hadFocus) ui.launcher.focus();
  }

  function updateBadge() {
    var count = state.open ? 0 : state.unread;
    ui.badge.hidden = count === 0;
    ui.badge.textContent = count > 99 ? "99+" : String(count);
    var label = state.open ? t("close") : t("open");
    if (count) label += " (" + t("unread", { n: count }) + ")";
    ui.launcher.setAttribute("aria-label", label);
  }

  function setConnection(kind) {
    var text = { online: "online", connecting: "connecting\u2026", offline: "offline" }[kind];
    ui.status.textContent = text;
    ui.status.setAttribute("data-state", kind);
    ui.panel.setAttribute("data-conn", kind);
  }

  // ------------------------------------------------------------------ message list

  function isNearBottom() {
    var list = ui.messages;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  /** Appends a bubble; follows it only if the reader was already at the bottom (or it is their own). */
  function appendBubble(node, forceScroll) {
    var stick = forceScroll || isNearBottom();
    ui.messages.appendChild(node);
    pruneFeedback();
    updateEmpty();
    if (stick) scrollToBottom();
  }

  function updateEmpty() {
    ui.empty.hidden = ui.messages.childElementCount > 0;
  }

  function authorOf(message) {
    return ["customer", "bot", "agent", "system"].indexOf(message.author) !== -1 ? message.author : "system";
  }

  /**
   * One bubble. dir="auto" on the bubble resolves its direction from the message text: the name,
   * meta and suggestions carry their own dir attribute, which makes the browser skip them, so a
   * Persian message from "Assistant" still lays out right-to-left.
   */
  function renderMessage(message) {
    var author = authorOf(message);
    var node = h("div", { class: "sb-msg sb-" + author, "data-id": message.id, dir: "auto" });
    if (author === "bot" || author === "agent") {
      node.appendChild(h("div", { class: "sb-name", dir: "auto" }, message.author_name || t(author)));
    }
    node.appendChild(h("div", { class: "sb-text" }, message.text == null ? "" : String(message.text)));
    node.appendChild(renderMeta(message.created_at, author === "customer"));
    if (Array.isArray(message.suggestions) && message.suggestions.length) {
      node.appendChild(renderSuggestions(message.suggestions));
    }
    var vote = message.feedback;
    if (author === "bot" && vote && typeof vote.helpful === "string" && typeof vote.not_helpful === "string") {
      node.appendChild(renderFeedback(vote));
    }
    if (author === "customer") {
      if (message.client_id) node.setAttribute("data-client-id", message.client_id);
      setBubbleState(node, message.state in STATE_RANK || message.state === "failed" ? message.state : "sent");
    }
    return node;
  }

  function renderMeta(createdAt, withState) {
    var when = formatTime(createdAt);
    return h("div", { class: "sb-meta", dir: "auto" }, [
      when ? h("time", { datetime: createdAt }, when) : null,
      withState ? h("span", { class: "sb-state" }) : null,
    ]);
  }

  /** Suggested articles: clicking one sends its title as the customer's next message. */
  function renderSuggestions(suggestions) {
    var group = h("div", { class: "sb-suggestions", role: "group", "aria-label": t("suggestions"), dir: "auto" });
    suggestions.forEach(function (suggestion) {
      if (!suggestion || !suggestion.title) return;
      var button = h("button", { type: "button", class: "sb-suggestion", dir: "auto",
        "data-article-id": suggestion.article_id }, String(suggestion.title));
      button.addEventListener("click", function () {
        sendMessage(String(suggestion.title));
      });
      group.appendChild(button);
    });
    return group;
  }

  /**
   * "Was this helpful?": pressing a button sends its label as the customer's next message, which
   * the server reads as the vote on this answer (docs/protocol.md). A second press changes it.
   */
  function renderFeedback(labels) {
    var group = h("div", { class: "sb-feedback", role: "group", "aria-label": t("feedback"), dir: "auto",
      "data-helpful": labels.helpful, "data-not-helpful": labels.not_helpful });
    [["helpful", labels.helpful], ["not_helpful", labels.not_helpful]].forEach(function (pair) {
      var button = h("button", { type: "button", class: "sb-vote", dir: "auto", "data-vote": pair[0],
        "aria-pressed": "false" }, pair[1]);
      button.addEventListener("click", function () {
        if (sendMessage(pair[1])) markVote(group, pair[1]);
      });
      group.appendChild(button);
    });
    return group;
  }

  function markVote(group, label) {
    Array.prototype.forEach.call(group.querySelectorAll(".sb-vote"), function (button) {
      button.setAttribute("aria-pressed", button.textContent === label ? "true" : "false");
    });
  }

  /**
   * A vote always rates the bot's latest answer, so only that answer keeps its buttons, and only
   * while nothing but votes and the bot's thanks for them came after it (a new question, an
   * agent or a notice ends it). The pressed button shows the latest vote.
   */
  function pruneFeedback() {
    var groups = ui.messages.querySelectorAll(".sb-feedback");
    Array.prototype.forEach.call(groups, function (group, i) {
      var labels = [group.getAttribute("data-helpful"), group.getAttribute("data-not-helpful")];
      var live = i === groups.length - 1;
      var afterVote = false;
      var voted = null;
      for (var next = group.parentNode.nextElementSibling; live && next; next = next.nextElementSibling) {
        var textNode = next.querySelector(".sb-text");
        var text = textNode ? textNode.textContent : "";
        var isVote = next.classList.contains("sb-customer") && labels.indexOf(text) !== -1;
        live = isVote || (afterVote && next.classList.contains("sb-bot"));
        afterVote = isVote;
        if (isVote) voted = text;
      }
      if (!live) group.remove();
      else if (voted) markVote(group, voted);
    });
  }

  /** Customer bubbles only: data-state plus the visible marker; failed ones get a Retry/Edit button. */
  function setBubbleState(node, newState) {
    node.setAttribute("data-state", newState);
    var marker = node.querySelector(".sb-state");
    if (marker) {
      marker.textContent = t("state_" + newState);
      marker.setAttribute("data-state", newState);
    }
    var oldButton = node.querySelector(".sb-retry");
    if (oldButton) oldButton.remove();
    var entry = state.outbox.get(node.getAttribute("data-client-id"));
    if (newState === "failed" && entry) {
      var editable = INPUT_ERROR.test(entry.errorCode || "");
      node.querySelector(".sb-meta").appendChild(
        h("button", { type: "button", class: "sb-retry", "data-action": editable ? "edit" : "retry" },
          editable ? t("edit") : t("retry"))
      );
    }
  }

  /** States only move forward (a late "delivered" must not undo "read"); failed is a side branch. */
  function mergeState(current, next) {
    if (next === "failed") return current === "delivered" || current === "read" ? current : "failed";
    if (!(next in STATE_RANK)) return current;
    if (!(current in STATE_RANK)) return next; // from failed/unknown: the server knows better
    return STATE_RANK[next] > STATE_RANK[current] ? next : current;
  }

  function onMessagesClick(event) {
    var button = event.target.closest ? event.target.closest(".sb-retry") : null;
    if (!button) return;
    var entry = state.outbox.get(button.closest(".sb-msg").getAttribute("data-client-id"));
    if (!entry) return;
    if (button.getAttribute("data-action") === "edit") editFailed(entry);
    else retry(entry);
  }

  // ------------------------------------------------------------------ sending

  function submitInput() {
    if (sendMessage(ui.input.value)) {
      ui.input.value = "";
      autosize();
    }
    ui.input.focus({ preventScroll: true });
  }

  /** Shows the bubble at once ("sending...") and sends when connected; returns the client_id. */
  function sendMessage(raw) {
    var text = String(raw == null ? "" : raw).trim();
    clearError();
    if (!text) {
      showError(t("errEmpty"));
      return null;
    }
    stopTyping();
    var entry = { clientId: uuid(), text: text, state: "sending", inflight: false, errorCode: "", el: null };
    entry.el = renderMessage({ id: null, author: "customer", text: text, created_at: new Date().toISOString(),
      state: "sending", client_id: entry.clientId });
    state.outbox.set(entry.clientId, entry);
    appendBubble(entry.el, true);
    transmit(entry);
    return entry.clientId;
  }

  /** Message frames only go out after welcome; the same client_id on every retry keeps them idempotent. */
  function transmit(entry) {
    if (state.ready && sendFrame({ type: "message", client_id: entry.clientId, text: entry.text })) {
      entry.inflight = true;
    }
  }

  /** After (re)connecting: everything still waiting for an ack goes out again, in order. */
  function flushOutbox() {
    state.outbox.forEach(function (entry) {
      if (entry.state === "sending") transmit(entry);
    });
  }

  function retry(entry) {
    clearError();
    entry.state = "sending";
    entry.errorCode = "";
    setBubbleState(entry.el, "sending");
    transmit(entry);
  }

  /** A refused text (too long): move it back into the input so the customer can shorten it. */
  function editFailed(entry) {
    state.outbox.delete(entry.clientId);
    entry.el.remove();
    updateEmpty();
    var current = ui.input.value.trim();
    ui.input.value = current ? entry.text + "\n" + current : entry.text;
    autosize();
    ui.input.focus();
  }

  function onInputKeydown(event) {
    if (event.key !== "Enter" || event.shiftKey) return;
    // While an IME is composing (Chinese pinyin, Japanese...), Enter picks the candidate: never send then.
    if (event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    submitInput();
  }

  /** Grow the textarea with its content up to the CSS max-height. */
  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 140) + "px";
  }

  // ------------------------------------------------------------------ customer typing

  /** typing on:true at most every 2 s while keys are pressed; on:false after 3 s idle, send or blur. */
  function onInputActivity() {
    autosize();
    if (!ui.input.value.trim()) {
      stopTyping();
      return;
    }
    var now = Date.now();
    if (state.ready && (!state.typingSent || now - state.typingSentAt >= TYPING_SEND_EVERY_MS)) {
      if (sendFrame({ type: "typing", on: true })) {
        state.typingSent = true;
        state.typingSentAt = now;
      }
    }
    clearTimeout(state.typingIdleTimer);
    state.typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typingIdleTimer);
    if (!state.typingSent) return;
    state.typingSent = false;
    if (state.ready) sendFrame({ type: "typing", on: false });
  }

  // ------------------------------------------------------------------ errors

  function showError(text) {
    ui.error.textContent = text;
    ui.error.hidden = false;
  }

  function clearError() {
    ui.error.textContent = "";
    ui.error.hidden = true;
  }

  function errorText(code, serverMessage) {
    if (/too_long/.test(code)) return t("errTooLong");
    if (/empty/.test(code)) return t("errEmpty");
    return serverMessage ? String(serverMessage) : t("errGeneric");
  }

  /** The oldest message sent but not yet acked: what an error without client_id most likely refers to. */
  function oldestInflight() {
    var found = null;
    state.outbox.forEach(function (entry) {
      if (!found && entry.inflight) found = entry;
    });
    return found;
  }

  function onErrorFrame(frame) {
    var code = String(frame.code || "");
    var entry = frame.client_id ? state.outbox.get(frame.client_id) : null;
    if (!entry && !frame.client_id && INPUT_ERROR.test(code)) entry = oldestInflight();
    if (entry) failEntry(entry, code);
    showError(errorText(code, frame.message));
  }

  /**
   * A refused message. If the text itself was the problem and the input is still empty, the text
   * goes straight back into the input (nothing typed is lost, no dead bubble stays behind);
   * otherwise the bubble is marked failed with a Retry (or Edit) button.
   */
  function failEntry(entry, code) {
    entry.inflight = false;
    entry.errorCode = code;
    if (INPUT_ERROR.test(code) && !ui.input.value.trim()) {
      editFailed(entry);
      return;
    }
    entry.state = "failed";
    setBubbleState(entry.el, "failed");
  }

  // ------------------------------------------------------------------ incoming frames

  function handleFrame(frame) {
    if (!frame || typeof frame !== "object") return;
    switch (frame.type) {
      case "welcome": return onWelcome(frame);
      case "ack": return onAck(frame.client_id, frame.message);
      case "message": return onServerMessage(frame.message);
      case "status": return onStatus(frame.message_id, frame.state);
      case "typing": return setRemoteTyping(frame.author, !!frame.on, frame.name);
      case "error": return frame.request ? onIdentifyError(frame) : onErrorFrame(frame);
      case "verification_sent": return onVerificationSent(frame);
      case "identified": return onIdentified(frame);
      default: return; // pong and anything newer than this widget
    }
  }

  function onWelcome(frame) {
    if (frame.visitor_id) store.set(STORAGE_VISITOR, frame.visitor_id);
    state.ready = true;
    state.attempt = 0;
    setConnection("online");
    renderHistory(Array.isArray(frame.history) ? frame.history : []);
    flushOutbox();
    state.identity = frame.identity || null;
    state.hasConversation = state.hasConversation || !!frame.conversation;
    if (state.identity && state.identity.email && state.idStage !== "done") state.idStage = "known";
    sendSignedIdentity();
    renderIdbar();
  }

  // ------------------------------------------------------------------ who the visitor is

  /** The website vouches for its logged-in user: sent after every welcome (idempotent). */
  function sendSignedIdentity() {
    var id = CONFIG.identity;
    if (!id || !state.ready) return;
    if (state.identity && state.identity.email === String(id.email).trim().toLowerCase()) return;
    var frame = { type: "identify", email: id.email, signature: id.signature };
    if (id.name) frame.name = id.name;
    sendFrame(frame);
  }

  /**
   * The small bar above the composer: "Verify your email" once the visitor has written, then
   * the address form, then the code form, then a confirmation. Hidden when the server cannot
   * email codes or already knows the visitor's address.
   */
  function renderIdbar() {
    var bar = ui.idbar;
    var stage = state.idStage;
    var canCode = !!(state.identity && state.identity.verify_by_code);
    while (bar.firstChild) bar.removeChild(bar.firstChild);
    bar.hidden = stage === "known" || (stage !== "done" && (!canCode || !state.hasConversation));
    if (bar.hidden) return;
    if (stage === "offer") {
      var offer = h("button", { id: "sb-id-offer", class: "sb-idlink", type: "button" }, "\u2709 " + t("idOffer"));
      offer.addEventListener("click", function () { setIdStage("email"); });
      bar.appendChild(offer);
    } else if (stage === "email") {
      var email = h("input", { id: "sb-id-email", type: "email", autocomplete: "email", dir: "ltr",
        placeholder: t("idEmail"), "aria-label": t("idEmail"), value: state.idEmail });
      var send = h("button", { id: "sb-id-send", class: "sb-idbtn", type: "button" }, t("idSend"));
      var cancel = h("button", { class: "sb-idlink", type: "button" }, t("idCancel"));
      var submit = function () {
        var value = email.value.trim();
        if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) return showIdError(t("idBadEmail"));
        state.idEmail = value;
        if (!sendFrame({ type: "identify", email: value })) showIdError(t("errGeneric"));
      };
      send.addEventListener("click", submit);
      email.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); submit(); }
      });
      cancel.addEventListener("click", function () { setIdStage("offer"); });
      bar.appendChild(h("div", { class: "sb-idrow" }, [email, send, cancel]));
      setTimeout(function () { email.focus(); }, 0);
    } else if (stage === "code") {
      var code = h("input", { id: "sb-id-code", type: "text", inputmode: "numeric", autocomplete: "one-time-code",
        maxlength: "6", dir: "ltr", placeholder: t("idCode"), "aria-label": t("idCode") });
      var verify = h("button", { id: "sb-id-verify", class: "sb-idbtn", type: "button" }, t("idVerify"));
      var change = h("button", { id: "sb-id-change", class: "sb-idlink", type: "button" }, t("idChange"));
      var check = function () {
        if (!sendFrame({ type: "verify", code: code.value.trim() })) showIdError(t("errGeneric"));
      };
      verify.addEventListener("click", check);
      code.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); check(); }
      });
      change.addEventListener("click", function () { setIdStage("email"); });
      bar.appendChild(h("p", { class: "sb-idnote", dir: "auto" }, t("idCodeSent", { email: state.idEmail })));
      bar.appendChild(h("div", { class: "sb-idrow" }, [code, verify, change]));
      setTimeout(function () { code.focus(); }, 0);
    } else if (stage === "done") {
      bar.appendChild(h("p", { id: "sb-id-done", class: "sb-iddone", dir: "auto" }, "\u2713 " + t("idDone", { email: state.idEmail })));
    }
    ui.idError = h("p", { id: "sb-id-error", class: "sb-iderror", role: "alert", dir: "auto", hidden: true });
    bar.appendChild(ui.idError);
  }

  /** Forget this browser's visitor (a user logged out, or another logged in) and start afresh. */
  function resetVisitor() {
    store.set(STORAGE_VISITOR, "");
    store.set(STORAGE_CURSOR, "0");
    state.identity = null;
    state.idStage = "offer";
    state.idEmail = "";
    state.hasConversation = false;
    state.outbox.clear();
    state.byId.clear();
    while (ui.messages.firstChild) ui.messages.removeChild(ui.messages.firstChild);
    updateEmpty();
    renderIdbar();
    if (state.ws) dropSocket(state.ws);
    reconnectNow();
  }

  function setIdStage(stage) {
    state.idStage = stage;
    renderIdbar();
  }

  function showIdError(text) {
    if (!ui.idError) return;
    ui.idError.textContent = text;
    ui.idError.hidden = false;
  }

  function onVerificationSent(frame) {
    state.idEmail = String(frame.email || state.idEmail);
    setIdStage("code");
  }

  function onIdentified(frame) {
    // Proving an email rotates the visitor id: the old one no longer leads to this chat.
    if (frame.visitor_id) store.set(STORAGE_VISITOR, frame.visitor_id);
    state.idEmail = String(frame.email || "");
    if (state.identity) state.identity.email = state.idEmail;
    // A signed identity is the site's business: nothing to show. A code the visitor typed is.
    setIdStage(state.idStage === "code" ? "done" : "known");
  }

  function onIdentifyError(frame) {
    var code = String(frame.code || "");
    var known = { wrong_code: "idWrong", code_expired: "idExpired", too_many_attempts: "idTooMany",
      too_many_codes: "idTooMany", bad_email: "idBadEmail", bad_code: "idWrong" }[code];
    if (code === "identity_conflict" && CONFIG.identity) {
      // This browser's chat was another signed-in user's: start a new one for this user.
      return resetVisitor();
    }
    if (frame.request === "identify" && CONFIG.identity && state.idStage !== "email") {
      // The site's signature was refused: the visitor can still chat; the console will show why.
      if (window.console) window.console.warn("Switchboard: identify refused:", code, frame.message);
      return;
    }
    showIdError(known ? t(known) : String(frame.message || t("errGeneric")));
  }

  /**
   * welcome carries the whole visible timeline: replace what is shown. Messages still waiting for
   * an ack stay at the end, unless the history shows the server did store them (only the ack was lost).
   */
  function renderHistory(history) {
    var cursor = Number(store.get(STORAGE_CURSOR)) || 0;
    var fragment = document.createDocumentFragment();
    hideRemoteTyping();
    state.byId.clear();
    state.deliveredIds.clear(); // recomputed below for this timeline
    history.forEach(function (message) {
      if (!message || message.id == null || state.byId.has(message.id)) return;
      if (message.author === "customer" && message.client_id) state.outbox.delete(message.client_id);
      var node = renderMessage(message);
      state.byId.set(message.id, node);
      fragment.appendChild(node);
      if (message.author !== "customer" && (message.id > cursor || message.state === "sent")) {
        queueDelivered(message.id);
      }
    });
    state.outbox.forEach(function (entry) {
      fragment.appendChild(entry.el);
    });
    // aria-busy: screen readers should not read the whole timeline out again after a reconnect.
    ui.messages.setAttribute("aria-busy", "true");
    ui.messages.textContent = "";
    ui.messages.appendChild(fragment);
    pruneFeedback();
    ui.messages.removeAttribute("aria-busy");
    state.byId.forEach(function (node, id) {
      applyEarlyStatus(id);
    });
    updateEmpty();
    scrollToBottom();
  }

  /** ack: the message is stored. The "sending..." bubble becomes the stored message. */
  function onAck(clientId, message) {
    var entry = state.outbox.get(clientId);
    state.outbox.delete(clientId);
    var id = message && message.id != null ? message.id : null;
    if (id !== null && state.byId.has(id)) {
      if (entry && entry.el !== state.byId.get(id)) entry.el.remove(); // already shown (e.g. via welcome)
      return;
    }
    if (!entry) {
      if (message) onServerMessage(message); // an ack for another tab's message: just show it
      return;
    }
    if (id !== null) {
      entry.el.setAttribute("data-id", id);
      state.byId.set(id, entry.el);
    }
    if (message && typeof message.text === "string") entry.el.querySelector(".sb-text").textContent = message.text;
    setBubbleState(entry.el, mergeState("sent", message && message.state));
    if (!state.hasConversation) {
      state.hasConversation = true;
      renderIdbar();
    }
    if (id !== null) applyEarlyStatus(id);
    if (!ui.error.hidden && !oldestFailed()) clearError();
  }

  function oldestFailed() {
    var found = null;
    state.outbox.forEach(function (entry) {
      if (!found && entry.state === "failed") found = entry;
    });
    return found;
  }

  /** message: rendered once (dedupe on id), then a delivery receipt. */
  function onServerMessage(message) {
    if (!message || message.id == null || state.byId.has(message.id)) return;
    if (message.author === "customer" && message.client_id && state.outbox.has(message.client_id)) {
      onAck(message.client_id, message); // our own message echoed back before its ack
      return;
    }
    var node = renderMessage(message);
    state.byId.set(message.id, node);
    appendBubble(node, false);
    applyEarlyStatus(message.id);
    if (message.author !== "customer") {
      // A bot turn can end with a system notice instead of an answer (an escalation): that ends
      // the bot's "typing" too, or the indicator would linger until its 20 s timeout.
      setRemoteTyping(message.author === "agent" ? "agent" : "bot", false);
      queueDelivered(message.id);
      if (!state.open) {
        state.unread += 1;
        updateBadge();
      }
    }
  }

  function onStatus(messageId, newState) {
    var node = state.byId.get(messageId);
    if (!node) {
      // The status overtook the ack of that message: keep it until the bubble exists.
      if (state.earlyStatus.size > 200) state.earlyStatus.clear();
      state.earlyStatus.set(messageId, newState);
      return;
    }
    if (node.classList.contains("sb-customer")) {
      setBubbleState(node, mergeState(node.getAttribute("data-state"), newState));
    }
  }

  function applyEarlyStatus(id) {
    if (!state.earlyStatus.has(id)) return;
    var early = state.earlyStatus.get(id);
    state.earlyStatus.delete(id);
    onStatus(id, early);
  }

  // ------------------------------------------------------------------ delivery receipts

  /** Receipts are batched: a welcome with 30 messages sends one frame, not 30. */
  function queueDelivered(id) {
    state.deliveredIds.add(id);
    if (!state.deliveredTimer) state.deliveredTimer = setTimeout(flushDelivered, 50);
  }

  function flushDelivered() {
    state.deliveredTimer = null;
    if (!state.ready || !state.deliveredIds.size) return; // after a reconnect, welcome recomputes them
    var ids = Array.from(state.deliveredIds);
    if (!sendFrame({ type: "delivered", ids: ids })) return;
    state.deliveredIds.clear();
    // The cursor only moves once the receipt is really out: what is above it still needs one.
    var highest = ids.reduce(function (max, id) { return id > max ? id : max; }, Number(store.get(STORAGE_CURSOR)) || 0);
    store.set(STORAGE_CURSOR, highest);
  }

  // ------------------------------------------------------------------ bot / agent typing

  function setRemoteTyping(author, on, name) {
    var slot = state.remoteTyping[author];
    if (!slot) return;
    clearTimeout(slot.timer);
    slot.on = on;
    slot.name = on && name ? String(name) : "";
    if (on) slot.timer = setTimeout(function () { setRemoteTyping(author, false); }, REMOTE_TYPING_TIMEOUT_MS);
    renderTyping();
  }

  function hideRemoteTyping() {
    setRemoteTyping("bot", false);
    setRemoteTyping("agent", false);
  }

  /** One line; when both type (bot finishing while an agent joins) the human wins. */
  function renderTyping() {
    var agent = state.remoteTyping.agent;
    var text = "";
    if (agent.on) text = agent.name ? t("typingNamed", { name: agent.name }) : t("typingAgent");
    else if (state.remoteTyping.bot.on) text = t("typingBot");
    var stick = isNearBottom();
    ui.typingText.textContent = text;
    ui.typing.hidden = !text;
    if (stick) scrollToBottom();
  }

  // ------------------------------------------------------------------ connection

  function sendFrame(frame) {
    var ws = state.ws;
    if (!ws || ws.readyState !== 1 /* OPEN */) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.ws) return;
    setConnection("connecting");
    var ws;
    try {
      ws = new WebSocket(CONFIG.wsUrl);
    } catch (e) {
      setConnection("offline");
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    state.ready = false;
    ws.onopen = function () {
      state.lastFrameAt = Date.now();
      var hello = { type: "hello", locale: CONFIG.helloLocale };
      var visitor = store.get(STORAGE_VISITOR);
      if (visitor) hello.visitor_id = visitor;
      sendFrame(hello);
      startHeartbeat(ws);
    };
    ws.onmessage = function (event) {
      if (state.ws !== ws) return;
      state.lastFrameAt = Date.now();
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return; // not ours to crash on
      }
      handleFrame(frame);
    };
    ws.onclose = function () {
      handleDisconnect(ws);
    };
    ws.onerror = function () {
      /* a close event always follows */
    };
  }

  function handleDisconnect(ws) {
    if (state.ws !== ws) return;
    state.ws = null;
    state.ready = false;
    state.typingSent = false;
    stopHeartbeat();
    state.outbox.forEach(function (entry) {
      entry.inflight = false;
    });
    hideRemoteTyping();
    setConnection("offline");
    scheduleReconnect();
  }

  /** 1 s, 2 s, 4 s, 8 s, then 15 s between attempts; reset by the next welcome. */
  function scheduleReconnect() {
    clearTimeout(state.reconnectTimer);
    var delay = Math.min(BACKOFF_MAX_MS, 1000 * Math.pow(2, state.attempt));
    state.attempt += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  }

  /** The network came back or the tab became visible: no need to wait out the backoff. */
  function reconnectNow() {
    if (state.ws) {
      sendFrame({ type: "ping" });
      return;
    }
    state.attempt = 0;
    connect();
  }

  /** A socket that died without a close frame would otherwise look "online" forever. */
  function dropSocket(ws) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch (e) {
      /* already closing */
    }
    handleDisconnect(ws);
  }

  function startHeartbeat(ws) {
    stopHeartbeat();
    state.pingTimer = setInterval(function () {
      if (state.ws !== ws) return;
      if (Date.now() - state.lastFrameAt > DEAD_AFTER_MS) dropSocket(ws);
      else sendFrame({ type: "ping" });
    }, PING_EVERY_MS);
  }

  function stopHeartbeat() {
    clearInterval(state.pingTimer);
    state.pingTimer = null;
  }

  // ------------------------------------------------------------------ start

  function start() {
    var root = buildUi();
    window.SwitchboardChat = {
      root: root,
      open: function () { openPanel(true); },
      close: closePanel,
      send: function (text) { return sendMessage(text); },
      // The site's backend signed its logged-in user: {email, name?, signature}.
      identify: function (who) {
        if (!who || !who.email || !who.signature) return false;
        CONFIG.identity = { email: String(who.email), name: String(who.name || ""), signature: String(who.signature) };
        sendSignedIdentity();
        return true;
      },
      // The site's user logged out: the next chat on this browser is a new visitor's.
      reset: function () {
        CONFIG.identity = null;
        resetVisitor();
      },
    };
    if (CONFIG.startOpen) openPanel(false);
    connect();
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
