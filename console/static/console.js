/*
 * Switchboard agent console: one page, plain JavaScript, no dependencies.
 *
 * Talks to the JSON API under /api/v1/ and to the live socket /api/v1/ws, exactly as described in
 * docs/protocol.md ("Agent console"). The bearer token lives in sessionStorage (per tab, gone when
 * the tab closes); any 401 sends the agent back to the sign-in form.
 *
 * Everything that comes from the server or a customer is put on the page with textContent or
 * setAttribute (see h()), never innerHTML, and with dir="auto" so Persian/Arabic read right-to-left.
 */
(function () {
  "use strict";

  const API = "/api/v1";
  const TOKEN_KEY = "switchboard.console.token";
  const AGENT_KEY = "switchboard.console.agent";
  const PING_EVERY_MS = 20000; // protocol: the ping keeps the agent "online"
  const DEAD_AFTER_MS = 65000; // no frame for this long: the socket died silently, reconnect
  const BACKOFF_MAX_MS = 15000;
  const TYPING_SEND_EVERY_MS = 2000;
  const TYPING_IDLE_MS = 3000;
  const CUSTOMER_TYPING_TIMEOUT_MS = 6000; // hide the indicator if its "off" never arrives
  const TICK_MS = 15000; // waiting times refresh; lists are polled on this beat while the socket is down
  const LONG_WAIT_MS = 5 * 60 * 1000;
  const EVENT_KINDS = ["escalation", "claim", "close", "handback", "system"];
  const BASE_TITLE = document.title;

  const state = {
    token: null,
    agent: null,
    queue: [],
    mine: [],
    agentsOnline: 0,
    unread: new Set(), // conversation ids (strings) with news the agent has not looked at
    openId: null, // id (string) of the conversation in the centre panel
    openConv: null,
    entries: new Map(), // message id (string) -> <li> in #history, for dedupe and in-place updates
    loadSeq: 0, // bumps on every conversation load: late answers for an older load are dropped
    loading: false,
    liveBuffer: [], // live messages that arrived while the open conversation was (re)loading
    drafts: new Map(), // conversation id -> unsent reply text, kept when switching conversations
    deliveries: new Map(), // message id (string) -> latest delivery state from the socket
    sending: false,
    ws: null,
    wsAttempt: 0,
    wsTimer: null,
    pingTimer: null,
    lastFrameAt: 0,
    live: false,
    typing: { convId: null, sentAt: 0, idleTimer: null }, // our own typing, sent to the customer
    customerTypingTimer: null,
    noticeTimer: null,
    tickTimer: null,
  };

  // ------------------------------------------------------------------ DOM helpers

  const $ = (id) => document.getElementById(id);

  /**
   * Element factory. Attributes go through setAttribute and string children become text nodes,
   * so nothing passed here can ever be parsed as HTML.
   */
  function h(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of [].concat(children === undefined ? [] : children)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function isNearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  function scrollToBottom(el) {
    el.scrollTop = el.scrollHeight;
  }

  // ------------------------------------------------------------------ formatting

  const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dateClockFormat = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });

  /** "14:05" today, "Nov 23, 14:05" otherwise. */
  function formatClock(iso) {
    const date = new Date(iso);
    if (!iso || isNaN(date.getTime())) return "";
    const today = date.toDateString() === new Date().toDateString();
    return (today ? clockFormat : dateClockFormat).format(date);
  }

  /** Compact age for list rows: "<1m", "12m", "1h 05m", "2d 3h". */
  function formatAge(iso) {
    const then = Date.parse(iso);
    if (isNaN(then)) return "";
    const minutes = Math.floor(Math.max(0, Date.now() - then) / 60000);
    if (minutes < 1) return "<1m";
    if (minutes < 60) return minutes + "m";
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + "h " + String(minutes % 60).padStart(2, "0") + "m";
    return Math.floor(hours / 24) + "d " + (hours % 24) + "h";
  }

  function customerName(conv) {
    const customer = (conv && conv.customer) || {};
    return customer.display_name || "Visitor " + (conv.reference || customer.id || conv.id);
  }

  /** One-line preview of the last message, with who said it. */
  function previewText(last) {
    if (!last || !last.text) return "No messages yet";
    const prefix = { bot: "Bot: ", agent: "Agent: ", system: "" }[last.author] || "";
    const text = String(last.text).replace(/\s+/g, " ").trim();
    return prefix + (text.length > 160 ? text.slice(0, 160) + "…" : text);
  }

  /** meta.confidence may be 0..1 or already a percentage. */
  function formatConfidence(value) {
    const number = Number(value);
    if (value === null || value === undefined || isNaN(number)) return null;
    return Math.round(number <= 1 ? number * 100 : number) + "%";
  }

  // ------------------------------------------------------------------ notices

  /** Transient message at the bottom of the screen (#notice); errors stay a little longer. */
  function showNotice(text, kind) {
    const notice = $("notice");
    notice.textContent = text;
    notice.dataset.kind = kind || "info";
    notice.hidden = false;
    clearTimeout(state.noticeTimer);
    state.noticeTimer = setTimeout(() => {
      notice.hidden = true;
    }, kind === "error" ? 8000 : 5000);
  }

  /** Shows an API failure. 401s are already handled (back to sign-in), so they stay quiet. */
  function report(err, fallback) {
    if (err && err.status === 401) return;
    showNotice((err && err.message) || fallback || "Something went wrong.", "error");
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /**
   * JSON call to /api/v1. Throws ApiError with the server's {"error":{code,message}}.
   * A 401 means the token is gone: back to the sign-in form (unless the caller handles it).
   */
  async function api(method, path, body, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.token && !opts.anonymous) headers.Authorization = "Bearer " + state.token;
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (e) {
      throw new ApiError(0, "network", "Cannot reach the server. Check your connection.");
    }
    const raw = await response.text();
    let data = null;
    if (raw) {
      try {
        data = JSON.parse(raw);
      } catch (e) {
        data = null;
      }
    }
    if (response.ok) return data;
    const error = (data && data.error) || {};
    if (response.status === 401 && !opts.handle401) sessionExpired();
    throw new ApiError(response.status, error.code || "http_" + response.status,
      error.message || response.statusText || "Request failed");
  }

  const enc = encodeURIComponent;

  // ------------------------------------------------------------------ session

  function loadSession() {
    try {
      state.token = sessionStorage.getItem(TOKEN_KEY);
      state.agent = JSON.parse(sessionStorage.getItem(AGENT_KEY) || "null");
    } catch (e) {
      state.token = null;
      state.agent = null;
    }
  }

  function saveSession(token, agent) {
    state.token = token;
    state.agent = agent || null;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
      sessionStorage.setItem(AGENT_KEY, JSON.stringify(agent || null));
    } catch (e) {
      /* storage disabled: the session lasts for this page only */
    }
  }

  function clearSession() {
    state.token = null;
    state.agent = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.removeItem(AGENT_KEY);
    } catch (e) {
      /* nothing stored */
    }
  }

  /** Any 401: drop everything and ask for the password again. Runs once per session. */
  function sessionExpired() {
    if (!state.token) return;
    teardown();
    showLogin("Your session has expired. Please sign in again.");
  }

  /** Confirms the token is still good; api() handles the 401 case. */
  function verifySession() {
    if (!state.token) return;
    api("GET", "/me").then(updateAgent).catch((err) => report(err));
  }

  /** Leaves the signed-in state: socket, timers, lists and the open conversation. */
  function teardown() {
    clearSession();
    closeSocket();
    clearInterval(state.tickTimer);
    clearTimeout(state.typing.idleTimer);
    state.typing.convId = null;
    state.queue = [];
    state.mine = [];
    state.unread.clear();
    state.drafts.clear();
    state.deliveries.clear();
    closeConversationView();
    $("queue-list").replaceChildren();
    $("mine-list").replaceChildren();
    document.title = BASE_TITLE;
  }

  function showLogin(message) {
    $("app").hidden = true;
    $("login-view").hidden = false;
    const error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    const email = $("login-email");
    (email.value ? $("login-password") : email).focus();
  }

  function showLoginError(message) {
    const error = $("login-error");
    error.textContent = message;
    error.hidden = false;
  }

  async function onLoginSubmit(event) {
    event.preventDefault();
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    if (!email || !password) {
      showLoginError("Enter your email and password.");
      return;
    }
    const submit = $("login-submit");
    submit.disabled = true;
    $("login-error").hidden = true;
    try {
      const data = await api("POST", "/auth/login", { email, password }, { anonymous: true, handle401: true });
      if (!data || !data.token) throw new ApiError(0, "bad_response", "The server sent an unexpected answer.");
      saveSession(data.token, data.agent);
      $("login-password").value = "";
      enterApp();
    } catch (err) {
      const wrongCredentials = err.status === 400 || err.status === 401 || err.status === 403;
      showLoginError(err.message || (wrongCredentials ? "Wrong email or password." : "Could not sign in."));
    } finally {
      submit.disabled = false;
    }
  }

  async function logout() {
    try {
      await api("POST", "/auth/logout", undefined, { handle401: true });
    } catch (e) {
      /* the token is dropped locally either way */
    }
    teardown();
    showLogin("");
  }

  /** Signed in: show the app, start live updates and load both lists. */
  function enterApp() {
    $("login-view").hidden = true;
    $("app").hidden = false;
    renderAgent();
    renderAgentsOnline();
    connectSocket();
    refreshQueue();
    refreshMine();
    verifySession();
    clearInterval(state.tickTimer);
    state.tickTimer = setInterval(onTick, TICK_MS);
  }

  function updateAgent(agent) {
    if (!agent || !state.token) return;
    saveSession(state.token, agent);
    renderAgent();
  }

  function renderAgent() {
    const agent = state.agent || {};
    $("agent-name").textContent = agent.name || agent.display_name || agent.email || "";
  }

  function renderAgentsOnline() {
    const n = Number(state.agentsOnline) || 0;
    $("agents-online").textContent = n + (n === 1 ? " agent online" : " agents online");
  }

  function isMine(conv) {
    if (!conv || !conv.assignee) return false;
    if (!state.agent || state.agent.id === undefined) return true; // cannot tell: let the server decide
    return String(conv.assignee.id) === String(state.agent.id);
  }

  // ------------------------------------------------------------------ lists

  /**
   * Wraps a refresh so that bursts of events cost at most one request in flight plus one more
   * afterwards (to pick up what changed meanwhile), instead of one request per event.
   */
  function coalesced(task) {
    let running = null;
    let again = false;
    return function run() {
      if (running) {
        again = true;
        return running;
      }
      running = (async () => {
        try {
          do {
            again = false;
            if (!state.token) return;
            await task();
          } while (again);
        } catch (err) {
          report(err, "Could not refresh.");
        } finally {
          running = null;
        }
      })();
      return running;
    };
  }

  const refreshQueue = coalesced(async () => {
    const data = await api("GET", "/queue");
    state.queue = (data && data.items) || [];
    state.agentsOnline = (data && data.agents_online) || 0;
    renderQueue();
    renderAgentsOnline();
  });

  const refreshMine = coalesced(async () => {
    const data = await api("GET", "/conversations?assignee=me&status=assigned");
    state.mine = (data && data.items) || [];
    renderMine();
  });

  const refreshOpen = coalesced(() => loadConversation(false));

  function refreshAll() {
    refreshQueue();
    refreshMine();
    if (state.openId) refreshOpen();
  }

  function renderQueue() {
    renderList($("queue-list"), state.queue, queueRow);
    $("queue-count").textContent = String(state.queue.length);
    $("queue-empty").hidden = state.queue.length > 0;
    updateTitle();
  }

  function renderMine() {
    renderList($("mine-list"), state.mine, mineRow);
    $("mine-count").textContent = String(state.mine.length);
    $("mine-empty").hidden = state.mine.length > 0;
    updateTitle();
  }

  /**
   * Re-renders a list. Keyboard users keep their focus on the same row and button, even though the
   * rows are new elements.
   */
  function renderList(list, items, rowFor) {
    const active = document.activeElement;
    let focusId = null;
    let focusClass = null;
    if (active && list.contains(active)) {
      const row = active.closest("[data-conversation-id]");
      focusId = row && row.dataset.conversationId;
      focusClass = active.classList.contains("claim") ? "claim" : "row-main";
    }
    list.replaceChildren(...items.map(rowFor));
    if (focusId === null) return;
    for (const row of list.children) {
      if (row.dataset.conversationId === focusId) {
        const target = row.getElementsByClassName(focusClass)[0];
        if (target) target.focus();
      }
    }
  }

  function queueRow(conv) {
    const id = String(conv.id);
    const since = conv.queued_at || conv.created_at;
    const row = h("li", { class: "conv-item queue-item", "data-conversation-id": id, "data-priority": conv.priority || 0 });
    const claim = h("button", { type: "button", class: "btn btn-small claim", "aria-label": "Claim conversation with " + customerName(conv) }, "Claim");
    claim.addEventListener("click", (event) => {
      event.stopPropagation();
      claimConversation(id);
    });
    row.append(summaryButton(conv, since, "Waiting since "), claim);
    decorateRow(row, id);
    return row;
  }

  function mineRow(conv) {
    const id = String(conv.id);
    const last = conv.last_message;
    const row = h("li", { class: "conv-item mine-item", "data-conversation-id": id });
    row.append(summaryButton(conv, (last && last.created_at) || conv.updated_at, "Last message "));
    decorateRow(row, id);
    return row;
  }

  /** The clickable part of a row: name, priority, age, last message. Opens the conversation. */
  function summaryButton(conv, sinceIso, sinceLabel) {
    const priority = Number(conv.priority) || 0;
    const age = h("span", { class: "row-age", "data-since": sinceIso, title: sinceIso ? sinceLabel + formatClock(sinceIso) : null }, formatAge(sinceIso));
    markLongWait(age, sinceIso);
    const button = h("button", { type: "button", class: "row-main" }, [
      h("span", { class: "row-top" }, [
        h("span", { class: "row-name", dir: "auto" }, customerName(conv)),
        priority > 0 ? h("span", { class: "priority", title: "Priority " + priority }, "P" + priority) : null,
        age,
      ]),
      h("span", { class: "row-preview", dir: "auto" }, previewText(conv.last_message)),
    ]);
    button.addEventListener("click", () => openConversation(conv.id));
    return button;
  }

  function markLongWait(el, sinceIso) {
    const then = Date.parse(sinceIso);
    el.classList.toggle("long-wait", !isNaN(then) && Date.now() - then > LONG_WAIT_MS);
  }

  /** Selected / unread state of one row. */
  function decorateRow(row, id) {
    const selected = id === state.openId;
    const unread = state.unread.has(id);
    row.classList.toggle("selected", selected);
    row.classList.toggle("unread", unread);
    if (unread) row.dataset.unread = "true";
    else delete row.dataset.unread;
    const main = row.getElementsByClassName("row-main")[0];
    if (main) {
      if (selected) main.setAttribute("aria-current", "true");
      else main.removeAttribute("aria-current");
    }
  }

  function redecorateRows() {
    for (const row of document.querySelectorAll(".conv-item")) decorateRow(row, row.dataset.conversationId);
    updateTitle();
  }

  /** "(2) Switchboard…" in the tab title. Only listed conversations count: bot-only chats may push messages too. */
  function updateTitle() {
    const listed = new Set();
    for (const row of document.querySelectorAll(".conv-item")) {
      if (state.unread.has(row.dataset.conversationId)) listed.add(row.dataset.conversationId);
    }
    document.title = (listed.size ? "(" + listed.size + ") " : "") + BASE_TITLE;
  }

  function markUnread(id) {
    state.unread.add(String(id));
    redecorateRows();
  }

  /** Keeps the row's preview current without waiting for a refetch. */
  function updatePreview(id, message) {
    if (!message) return;
    const last = { text: message.text, author: message.author, created_at: message.created_at };
    let changed = false;
    for (const conv of state.mine.concat(state.queue)) {
      if (String(conv.id) === id && message.text) {
        conv.last_message = last;
        changed = true;
      }
    }
    if (changed) {
      renderMine();
      renderQueue();
    }
  }

  /** Every TICK_MS: refresh the ages; while the socket is down, poll so nothing is missed. */
  function onTick() {
    for (const el of document.querySelectorAll("[data-since]")) {
      el.textContent = formatAge(el.dataset.since);
      markLongWait(el, el.dataset.since);
    }
    if (!state.live && state.token) refreshAll();
  }

  // ------------------------------------------------------------------ claiming

  async function claimConversation(id) {
    try {
      const conv = await api("POST", "/conversations/" + enc(id) + "/claim");
      showNotice("Conversation claimed.");
      refreshQueue();
      refreshMine();
      openConversation(conv && conv.id != null ? conv.id : id);
    } catch (err) {
      if (err.status === 409) {
        showNotice("Too late: another agent already claimed this conversation.", "warn");
        refreshQueue();
        refreshMine();
        if (state.openId === String(id)) refreshOpen();
      } else {
        report(err, "Could not claim the conversation.");
      }
    }
  }

  async function claimNext() {
    const button = $("claim-next");
    button.disabled = true;
    try {
      const conv = await api("POST", "/queue/claim");
      showNotice("Conversation claimed.");
      refreshMine();
      if (conv && conv.id != null) openConversation(conv.id);
    } catch (err) {
      if (err.status === 404) showNotice("The queue is empty. Nobody is waiting.");
      else if (err.status === 409) showNotice("Another agent was faster. Try again.", "warn");
      else report(err, "Could not claim the next conversation.");
    } finally {
      button.disabled = false;
      refreshQueue();
    }
  }

  // ------------------------------------------------------------------ the open conversation

  function openConversation(rawId) {
    const id = String(rawId);
    if (state.openId !== id) {
      saveDraft();
      stopAgentTyping();
      hideCustomerTyping();
      state.openId = id;
      state.openConv = null;
      state.entries = new Map();
      state.liveBuffer = [];
      const panel = $("conversation");
      panel.hidden = false;
      panel.dataset.conversationId = id;
      $("conversation-placeholder").hidden = true;
      $("history").replaceChildren();
      $("conv-title").textContent = "Loading…";
      $("conv-meta").replaceChildren();
      $("reply-input").value = state.drafts.get(id) || "";
      setActionsEnabled(null);
    }
    state.unread.delete(id);
    redecorateRows();
    return loadConversation(true);
  }

  /** Fetches the open conversation; reset=false keeps the reader's scroll position (live refresh). */
  async function loadConversation(reset) {
    const id = state.openId;
    if (!id) return;
    const seq = ++state.loadSeq;
    state.loading = true;
    try {
      const conv = await api("GET", "/conversations/" + enc(id));
      if (seq !== state.loadSeq || state.openId !== id) return; // the agent moved on meanwhile
      state.openConv = conv;
      renderConversationHead(conv);
      renderHistory((conv && conv.messages) || [], reset);
    } catch (err) {
      if (seq !== state.loadSeq) return;
      if (err.status === 404) {
        showNotice("That conversation no longer exists.", "error");
        closeConversationView();
      } else {
        report(err, "Could not load the conversation.");
      }
    } finally {
      if (seq === state.loadSeq) state.loading = false;
    }
  }

  function closeConversationView() {
    saveDraft();
    stopAgentTyping();
    hideCustomerTyping();
    state.openId = null;
    state.openConv = null;
    state.entries = new Map();
    state.liveBuffer = [];
    state.loadSeq += 1;
    state.loading = false;
    $("conversation").hidden = true;
    delete $("conversation").dataset.conversationId;
    $("conversation-placeholder").hidden = false;
    $("history").replaceChildren();
    redecorateRows();
  }

  function saveDraft() {
    if (!state.openId) return;
    const text = $("reply-input").value;
    if (text.trim()) state.drafts.set(state.openId, text);
    else state.drafts.delete(state.openId);
  }

  function renderConversationHead(conv) {
    $("conv-title").textContent = customerName(conv);
    const status = conv.status || "unknown";
    const parts = [
      h("span", { class: "status status-" + status.replace(/[^a-z_]/g, "") }, status),
      conv.reference ? h("span", { class: "reference" }, "#" + conv.reference) : null,
      conv.channel ? h("span", null, conv.channel) : null,
      conv.subject ? h("span", { class: "subject", dir: "auto" }, String(conv.subject)) : null,
      conv.assignee ? h("span", { dir: "auto" }, "Assigned to " + (isMine(conv) && state.agent ? "you" : conv.assignee.name || "an agent")) : null,
      conv.created_at ? h("span", null, "Started " + formatClock(conv.created_at)) : null,
    ].filter(Boolean);
    $("conv-meta").replaceChildren(...parts);
    setActionsEnabled(conv);
  }

  /**
   * Which buttons make sense for this status. Replying needs the conversation assigned to me;
   * the server has the last word on everything else (its refusals show up as notices).
   */
  function setActionsEnabled(conv) {
    const status = conv ? conv.status : null;
    const canReply = !!conv && status === "assigned" && isMine(conv);
    $("claim-open").hidden = !(status === "queued" || status === "bot");
    $("close-conversation").disabled = !conv || status === "closed";
    $("handback").disabled = !conv || status === "closed" || status === "bot";
    const input = $("reply-input");
    input.disabled = !canReply;
    $("reply-send").disabled = !canReply || state.sending;
    input.placeholder = canReply
      ? "Type a reply. Enter sends, Shift+Enter adds a new line."
      : status === "closed" ? "This conversation is closed." : "Claim this conversation to reply.";
  }

  /** Full timeline. Live messages that raced the fetch are merged in afterwards (dedupe by id). */
  function renderHistory(messages, reset) {
    const history = $("history");
    const stick = reset || isNearBottom(history);
    const previousScroll = history.scrollTop;
    state.entries = new Map();
    const nodes = [];
    for (const message of messages) {
      const key = String(message.id);
      if (state.entries.has(key)) continue;
      const node = renderEntry(message);
      state.entries.set(key, node);
      nodes.push(node);
    }
    // aria-busy: a refetch must not make screen readers read the whole timeline again.
    history.setAttribute("aria-busy", "true");
    history.replaceChildren(...nodes);
    history.removeAttribute("aria-busy");
    const buffered = state.liveBuffer;
    state.liveBuffer = [];
    buffered.forEach(upsertEntry);
    if (stick) scrollToBottom(history);
    else history.scrollTop = previousScroll;
  }

  /** Adds a message, or updates it in place if already shown (e.g. its delivery state changed). */
  function upsertEntry(message) {
    if (!message || message.id == null) return;
    const history = $("history");
    const key = String(message.id);
    const node = renderEntry(message);
    const existing = state.entries.get(key);
    state.entries.set(key, node);
    if (existing) {
      existing.replaceWith(node);
      return;
    }
    const stick = isNearBottom(history);
    insertInOrder(history, node, Number(message.id));
    if (stick) scrollToBottom(history);
  }

  /** Live messages can overtake each other; keep the timeline ordered by id. */
  function insertInOrder(history, node, id) {
    let before = history.lastElementChild;
    while (before && Number(before.dataset.id) > id) before = before.previousElementSibling;
    history.insertBefore(node, before ? before.nextSibling : history.firstChild);
  }

  /** One history entry, class "entry entry-<kind>". System events are small centred lines. */
  function renderEntry(message) {
    const kind = String(message.kind || "message").toLowerCase().replace(/[^a-z0-9_]/g, "") || "message";
    const entry = h("li", { class: "entry entry-" + kind, "data-id": message.id, "data-author": message.author });
    const time = h("time", { datetime: message.created_at, class: "entry-time" }, formatClock(message.created_at));
    if (EVENT_KINDS.includes(kind)) {
      entry.classList.add("entry-event");
      entry.append(h("span", { class: "entry-text", dir: "auto" }, eventText(kind, message)), time);
      return entry;
    }
    const label = { bot_answer: "Bot answer", note: "Internal note" }[kind];
    entry.append(
      h("div", { class: "entry-head" }, [
        h("span", { class: "entry-author", dir: "auto" }, authorLabel(message)),
        label ? h("span", { class: "entry-kind" }, label) : null,
        time,
      ]),
      h("div", { class: "entry-text", dir: "auto" }, message.text == null ? "" : String(message.text))
    );
    if (kind === "bot_answer") entry.append(botMeta(message.meta || {}));
    const meta = message.meta || {};
    if (meta.automatic) {
      entry.classList.add("entry-automatic");
      entry.append(h("div", { class: "entry-meta" }, "Automatic message (" + String(meta.automatic).replace(/_/g, " ") + "): not answered"));
    }
    if (Array.isArray(meta.attachments) && meta.attachments.length) entry.append(attachmentList(meta.attachments));
    const delivery = furthestState(message.state, state.deliveries.get(String(message.id)));
    if (kind === "agent_reply" && delivery) {
      entry.append(h("div", { class: "entry-state", "data-state": delivery }, stateLabel(delivery)));
    }
    return entry;
  }

  function authorLabel(message) {
    if (message.author_name) return String(message.author_name);
    if (message.author === "customer") return state.openConv ? customerName(state.openConv) : "Customer";
    return { bot: "Bot", agent: "Agent", system: "System" }[message.author] || "Unknown";
  }

  function eventText(kind, message) {
    if (message.text) return String(message.text);
    const who = message.author_name ? String(message.author_name) : "";
    switch (kind) {
      case "escalation": return "Escalated to a human agent";
      case "claim": return who ? who + " joined the conversation" : "Conversation claimed";
      case "close": return who ? "Closed by " + who : "Conversation closed";
      case "handback": return who ? who + " handed the conversation back to the bot" : "Handed back to the bot";
      default: return "System event";
    }
  }

  /** Files the customer sent: a download button each (the API needs the bearer token). */
  function attachmentList(items) {
    return h("ul", { class: "attachments" }, items.map((item) => {
      const label = String(item.name || "attachment") + " (" + formatSize(Number(item.size) || 0) + ")";
      if (item.omitted || item.id == null) {
        return h("li", { class: "attachment-omitted", dir: "auto", title: "Over the size limit: not kept" }, label + " — not kept");
      }
      const button = h("button", { type: "button", class: "attachment", dir: "auto" }, label);
      button.addEventListener("click", () => downloadAttachment(item));
      return h("li", null, button);
    }));
  }

  function formatSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(0) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  async function downloadAttachment(item) {
    try {
      const response = await fetch(API + "/attachments/" + enc(item.id), {
        headers: { Authorization: "Bearer " + state.token },
        cache: "no-store",
      });
      if (!response.ok) throw new ApiError(response.status, "http_" + response.status, "Download failed");
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: String(item.name || "attachment") });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      report(e, "Could not download the file");
    }
  }

  /** Which article the bot used and how sure it was, from meta.article_id / meta.confidence. */
  function botMeta(meta) {
    const confidence = formatConfidence(meta.confidence);
    const number = Number(meta.confidence);
    const ratio = confidence === null ? null : number <= 1 ? number : number / 100;
    const level = ratio === null ? "" : ratio >= 0.8 ? "high" : ratio >= 0.5 ? "mid" : "low";
    return h("div", { class: "entry-meta" }, [
      meta.article_id != null ? h("span", { class: "article", dir: "auto" }, "Article " + meta.article_id) : h("span", { class: "article" }, "No article"),
      confidence ? h("span", { class: "confidence confidence-" + level, title: "Bot confidence" }, "Confidence " + confidence) : null,
    ]);
  }

  const DELIVERY_RANK = { pending: 0, failed: 1, sent: 1, delivered: 2, read: 3 };

  /** Delivery states only move forward: a late or stale "pending" must not undo "delivered". */
  function furthestState(current, next) {
    if (!next) return current;
    if (!current) return next;
    const a = DELIVERY_RANK[current] ?? -1;
    const b = DELIVERY_RANK[next] ?? -1;
    return b >= a ? next : current;
  }

  function stateLabel(value) {
    return { pending: "Sending…", sent: "Sent ✓", delivered: "Delivered ✓✓", read: "Read ✓✓", failed: "Not delivered" }[value] || String(value);
  }

  // ------------------------------------------------------------------ actions on the open conversation

  async function sendReply() {
    const id = state.openId;
    const input = $("reply-input");
    const text = input.value.trim();
    if (!id || !text || state.sending || input.disabled) return;
    state.sending = true;
    $("reply-send").disabled = true;
    stopAgentTyping();
    try {
      const message = await api("POST", "/conversations/" + enc(id) + "/messages", { text });
      // Clear only what was sent: the agent may already be typing the next line.
      if (state.openId === id && input.value.trim() === text) input.value = "";
      state.drafts.delete(id);
      if (state.openId === id && message && message.id != null) {
        if (state.loading) state.liveBuffer.push(message);
        else upsertEntry(message);
      }
    } catch (err) {
      report(err, "Your reply was not sent. It is still in the box.");
    } finally {
      state.sending = false;
      setActionsEnabled(state.openConv);
      if (state.openId === id) input.focus();
    }
  }

  /** Close / hand back: one POST, then everything that may have changed is refetched. */
  async function conversationAction(action, doneText, failText) {
    const id = state.openId;
    if (!id) return;
    const button = $(action === "close" ? "close-conversation" : "handback");
    button.disabled = true;
    stopAgentTyping();
    try {
      await api("POST", "/conversations/" + enc(id) + "/" + action);
      showNotice(doneText);
      state.drafts.delete(id);
      refreshMine();
      refreshQueue();
      if (state.openId === id) await refreshOpen();
    } catch (err) {
      report(err, failText);
      setActionsEnabled(state.openConv);
    }
  }

  function onReplyKeydown(event) {
    if (event.key !== "Enter" || event.shiftKey) return;
    // Enter while an IME is composing (Chinese, Japanese…) confirms the candidate; it must not send.
    if (event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    sendReply();
  }

  // ------------------------------------------------------------------ typing indicators

  /** Our typing, to the customer: on:true at most every 2 s while typing, on:false after 3 s idle. */
  function onReplyInput() {
    const id = state.openId;
    const input = $("reply-input");
    if (!id || input.disabled) return;
    if (!input.value.trim()) {
      stopAgentTyping();
      return;
    }
    const now = Date.now();
    if (state.typing.convId !== id || now - state.typing.sentAt >= TYPING_SEND_EVERY_MS) {
      if (state.typing.convId && state.typing.convId !== id) stopAgentTyping();
      state.typing.convId = id;
      state.typing.sentAt = now;
      postTyping(id, true);
    }
    clearTimeout(state.typing.idleTimer);
    state.typing.idleTimer = setTimeout(stopAgentTyping, TYPING_IDLE_MS);
  }

  function stopAgentTyping() {
    clearTimeout(state.typing.idleTimer);
    const id = state.typing.convId;
    if (!id) return;
    state.typing.convId = null;
    postTyping(id, false);
  }

  /** Best effort: a lost typing indicator is not worth a notice. */
  function postTyping(id, on) {
    if (!state.token) return;
    api("POST", "/conversations/" + enc(id) + "/typing", { on }).catch(() => {});
  }

  /** The customer's typing, from the socket. */
  function setCustomerTyping(on) {
    const el = $("customer-typing");
    clearTimeout(state.customerTypingTimer);
    if (on) {
      el.textContent = (state.openConv ? customerName(state.openConv) : "Customer") + " is typing…";
      state.customerTypingTimer = setTimeout(hideCustomerTyping, CUSTOMER_TYPING_TIMEOUT_MS);
    }
    el.hidden = !on;
  }

  function hideCustomerTyping() {
    setCustomerTyping(false);
  }

  // ------------------------------------------------------------------ live socket

  function setConnection(kind) {
    const el = $("connection");
    el.dataset.state = kind;
    el.textContent = { live: "live", connecting: "connecting…", offline: "offline" }[kind];
    state.live = kind === "live";
  }

  /** Opens /api/v1/ws; the first frame must be the auth frame. */
  function connectSocket() {
    clearTimeout(state.wsTimer);
    if (state.ws || !state.token) return;
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + API + "/ws";
    setConnection("connecting");
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    ws.onopen = () => {
      state.lastFrameAt = Date.now();
      ws.send(JSON.stringify({ type: "auth", token: state.token }));
      startPing(ws);
    };
    ws.onmessage = (event) => {
      if (state.ws !== ws) return;
      state.lastFrameAt = Date.now();
      let frame = null;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === "object") onSocketFrame(frame);
    };
    ws.onclose = (event) => onSocketClosed(ws, event.code);
    ws.onerror = () => {}; // a close event always follows
  }

  function onSocketClosed(ws, code) {
    if (state.ws !== ws) return;
    state.ws = null;
    clearInterval(state.pingTimer);
    setConnection("offline");
    hideCustomerTyping();
    // 4001/4401/4403/1008: the server refused our token. Check it; a 401 ends the session.
    if (code === 1008 || (code >= 4000 && code < 5000)) verifySession();
    scheduleReconnect();
  }

  /** 1 s, 2 s, 4 s, 8 s, then every 15 s; reset once the server says "ready". */
  function scheduleReconnect() {
    clearTimeout(state.wsTimer);
    if (!state.token) return;
    const delay = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** state.wsAttempt);
    state.wsAttempt += 1;
    state.wsTimer = setTimeout(connectSocket, delay);
  }

  function closeSocket() {
    clearTimeout(state.wsTimer);
    clearInterval(state.pingTimer);
    const ws = state.ws;
    state.ws = null;
    state.wsAttempt = 0;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch (e) {
        /* already closed */
      }
    }
    setConnection("offline");
  }

  /** Ping every 20 s (keeps the agent "online"); a socket that stays silent too long is replaced. */
  function startPing(ws) {
    clearInterval(state.pingTimer);
    state.pingTimer = setInterval(() => {
      if (state.ws !== ws) return;
      if (Date.now() - state.lastFrameAt > DEAD_AFTER_MS) {
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try {
          ws.close();
        } catch (e) {
          /* dead anyway */
        }
        onSocketClosed(ws, 1006);
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping" }));
    }, PING_EVERY_MS);
  }

  function onSocketFrame(frame) {
    switch (frame.type) {
      case "ready":
        state.wsAttempt = 0;
        setConnection("live");
        if (frame.agent) updateAgent(frame.agent);
        refreshAll(); // catch up on whatever happened while we were disconnected
        break;
      case "queue":
        refreshQueue();
        break;
      case "conversation":
        onConversationEvent(String(frame.conversation_id));
        break;
      case "message":
        onMessageEvent(String(frame.conversation_id), frame.message);
        break;
      case "typing":
        if (String(frame.conversation_id) === state.openId) setCustomerTyping(!!frame.on);
        break;
      case "delivery":
        onDeliveryEvent(frame.touchpoint_id, frame.state);
        break;
      case "presence":
        refreshQueue(); // an agent came or went: the queue answer carries agents_online
        break;
      case "error":
        if (/auth|token|unauthori[sz]ed|expired/i.test(String(frame.code || ""))) verifySession();
        break;
      default:
        break; // pong, or an event newer than this page
    }
  }

  function onConversationEvent(id) {
    refreshMine();
    refreshQueue();
    if (id === state.openId) refreshOpen();
  }

  /** New message: append to the open conversation (dedupe by id), otherwise flag its row unread. */
  function onMessageEvent(id, message) {
    if (id === state.openId && message) {
      if (state.loading) state.liveBuffer.push(message);
      else upsertEntry(message);
      if (message.author === "customer") hideCustomerTyping();
    } else if (!message || message.author !== "agent") {
      markUnread(id);
    }
    updatePreview(id, message);
  }

  /**
   * The delivery state of an outbound message changed (the outbox sent it, the customer's widget
   * received it). It may arrive before the reply's own POST answer or message event, so it is
   * remembered and renderEntry() shows whichever state is further along.
   */
  function onDeliveryEvent(rawId, value) {
    if (rawId == null || !value) return;
    const id = String(rawId);
    state.deliveries.delete(id);
    state.deliveries.set(id, value);
    if (state.deliveries.size > 500) state.deliveries.delete(state.deliveries.keys().next().value);
    const node = state.entries.get(id);
    const marker = node && node.querySelector(".entry-state");
    if (!marker) return;
    const shown = furthestState(marker.dataset.state, value);
    marker.dataset.state = shown;
    marker.textContent = stateLabel(shown);
  }

  // ------------------------------------------------------------------ start

  function wire() {
    $("login-form").addEventListener("submit", onLoginSubmit);
    $("logout").addEventListener("click", logout);
    $("claim-next").addEventListener("click", claimNext);
    $("claim-open").addEventListener("click", () => state.openId && claimConversation(state.openId));
    $("close-conversation").addEventListener("click", () =>
      conversationAction("close", "Conversation closed.", "Could not close the conversation."));
    $("handback").addEventListener("click", () =>
      conversationAction("handback", "Handed back to the bot.", "Could not hand the conversation back."));
    $("reply-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sendReply();
    });
    const input = $("reply-input");
    input.addEventListener("keydown", onReplyKeydown);
    input.addEventListener("input", onReplyInput);
    input.addEventListener("blur", stopAgentTyping);
    // Back online or back to the tab: reconnect now rather than after the backoff.
    const wake = () => {
      if (state.token && !state.ws) {
        state.wsAttempt = 0;
        connectSocket();
      }
    };
    window.addEventListener("online", wake);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") wake();
    });
  }

  function init() {
    wire();
    loadSession();
    if (state.token) enterApp();
    else showLogin("");
  }

  init();
})();
