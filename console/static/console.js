/*
 * Switchboard agent console: one page, plain JavaScript, no dependencies, no build step.
 *
 * Talks to the JSON API under /api/v1/ and to the live socket /api/v1/ws, exactly as described in
 * docs/protocol.md ("Agent console") and console/openapi.yaml. The bearer token lives in
 * sessionStorage (per tab, gone when the tab closes); any 401 sends the agent back to sign-in.
 *
 * Everything that comes from the server or a customer is put on the page with textContent or
 * setAttribute (see h()), never innerHTML, and with dir="auto" so Persian/Arabic read right-to-left.
 *
 * Sections, in order:
 *   constants and state · DOM helpers · formatting · SLA, limits and SMS segments · notices ·
 *   API · session and sign-in · presence and roles · workspace settings · lists · claiming ·
 *   the open conversation · history entries · reply box (modes, limits, sending) ·
 *   canned response picker · customer panel · dialogs (transfer, close, canned, help) ·
 *   supervisor view · knowledge base (articles, editor, versions, import/export, gaps) ·
 *   typing indicators · live socket · keyboard shortcuts · start
 */
(function () {
  "use strict";

  // ================================================================== constants and state

  const API = "/api/v1";
  const TOKEN_KEY = "switchboard.console.token";
  const AGENT_KEY = "switchboard.console.agent";
  const PANEL_KEY = "switchboard.console.customerPanel";
  const PING_EVERY_MS = 20000; // protocol: the ping keeps the agent "online"
  const DEAD_AFTER_MS = 65000; // no frame for this long: the socket died silently, reconnect
  const BACKOFF_MAX_MS = 15000;
  const TYPING_SEND_EVERY_MS = 2000;
  const TYPING_IDLE_MS = 3000;
  const CUSTOMER_TYPING_TIMEOUT_MS = 6000; // hide the indicator if its "off" never arrives
  const TICK_MS = 15000; // waiting times refresh; lists are polled on this beat while the socket is down
  const COUNTDOWN_MS = 1000; // SLA and reply-window countdowns
  const SUPERVISOR_MIN_GAP_MS = 1000; // live supervisor refreshes: at most about one a second
  const CANNED_DEBOUNCE_MS = 120;
  const HISTORY_PAGE = 50;
  const LONG_WAIT_MS = 5 * 60 * 1000;
  const WINDOW_WARN_MS = 60 * 60 * 1000; // the reply window turns amber in its last hour
  const DEFAULT_MAX_CHARS = 4000;
  const EVENT_KINDS = ["escalation", "claim", "close", "handback", "system", "transfer"];
  const SUPERVISOR_ROLES = ["supervisor", "admin"];
  const CANNED_ROLES = ["supervisor", "admin", "knowledge_manager"];
  const KB_PUBLISHER_ROLES = ["knowledge_manager", "admin"]; // publish, archive, roll back, import
  const PRESENCE_LABELS = { online: "Online", away: "Away", offline: "Offline" };
  const SLA_LABELS = { first_response: "First reply", next_response: "Next reply", resolution: "Resolution" };
  const SLA_SHORT = { first_response: "1st reply", next_response: "Reply", resolution: "Resolve" };
  const CHANNEL_LABELS = {
    webchat: "Web chat", email: "Email", sms: "SMS", whatsapp: "WhatsApp", messenger: "Messenger",
    telegram: "Telegram", line: "LINE", voice: "Voice",
  };
  const BASE_TITLE = document.title;

  const state = {
    token: null,
    agent: null, // /api/v1/me: id, name, email, role, presence, teams, skills, capacity
    workspace: null, // /api/v1/workspace: teams, dispositions, disposition_required, csat
    view: "conversations", // or "supervisor", "kb"
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
    noteMode: false, // the reply box writes internal notes instead of replies
    sending: false,
    canned: { open: false, items: [], active: -1, seq: 0, timer: null, suppressed: false },
    manage: { items: [], editing: null, deleteArmed: null, deleteTimer: null },
    customer: { id: null, profile: null, items: new Map(), nextBefore: null, channel: "", seq: 0, olderLoading: false },
    panelOpen: true,
    supervisor: { data: null, lastAt: 0, timer: null, stale: true },
    agentsList: [], // /api/v1/agents for the transfer dialog
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
    countdownTimer: null,
    pendingG: 0, // "g" pressed: the next key picks a view
    kb: newKbState(),
  };

  /** The knowledge-base view's state; a fresh one at sign-out. */
  function newKbState() {
    return {
      loaded: false,
      section: "articles", // or "gaps"
      offset: 0,
      total: 0,
      items: [],
      listSeq: 0,
      searchTimer: null,
      facets: null,
      article: null, // GET /kb/articles/{id}/{locale} of the open article; null for a new one
      editing: false, // the editor is open (an article or a new draft)
      dirty: false,
      loadSeq: 0,
      previewSeq: 0,
      previewTimer: null,
      diffSeq: 0,
      busy: false,
      ask: null, // the open #kb-dialog: {run, resolve}
      gapsSeq: 0,
      gapsLoaded: false,
    };
  }

  // ================================================================== DOM helpers

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
    const list = children === undefined ? [] : [].concat(children).flat(Infinity);
    for (const child of list) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function isNearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  function scrollToBottom(el) {
    el.scrollTop = el.scrollHeight;
  }

  /** Is the keyboard in a place where single letters are text (so shortcuts must stay quiet)? */
  function isTypingTarget(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    const tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag === "INPUT") return !["button", "checkbox", "radio", "submit", "reset"].includes(el.type);
    return false;
  }

  function openDialog() {
    return document.querySelector("dialog[open]");
  }

  // ================================================================== formatting

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

  /** A countdown: "4:09", "1h 05m", "2d 3h". */
  function formatCountdown(ms) {
    const seconds = Math.floor(Math.abs(ms) / 1000);
    if (seconds < 3600) return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    const hours = Math.floor(seconds / 3600);
    if (hours < 24) return hours + "h " + String(Math.floor((seconds % 3600) / 60)).padStart(2, "0") + "m";
    return Math.floor(hours / 24) + "d " + (hours % 24) + "h";
  }

  /** Seconds as "45s", "3m 20s", "1h 05m". */
  function formatDuration(value) {
    const seconds = Math.round(Number(value));
    if (value === null || value === undefined || isNaN(seconds)) return "—";
    if (seconds < 60) return seconds + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m " + String(seconds % 60).padStart(2, "0") + "s";
    return Math.floor(seconds / 3600) + "h " + String(Math.floor((seconds % 3600) / 60)).padStart(2, "0") + "m";
  }

  function customerName(conv) {
    const customer = (conv && conv.customer) || {};
    return customer.display_name || "Visitor " + ((conv && conv.reference) || customer.id || (conv && conv.id));
  }

  function channelLabel(channel) {
    return CHANNEL_LABELS[channel] || String(channel || "");
  }

  function humanize(code) {
    const text = String(code || "").replace(/[_-]+/g, " ").trim();
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
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

  function isVip(conv) {
    const segment = conv && conv.customer && conv.customer.segment;
    return String(segment || "").toLowerCase() === "vip";
  }

  /** Small coloured labels: VIP, a segment, a team. */
  function segmentBadge(segment) {
    if (!segment) return null;
    const vip = String(segment).toLowerCase() === "vip";
    return h("span", { class: vip ? "badge badge-vip" : "badge badge-segment", title: "Customer segment: " + segment }, vip ? "VIP" : String(segment));
  }

  function teamBadge(team) {
    return team ? h("span", { class: "badge badge-team", title: "Team " + team }, String(team)) : null;
  }

  // ================================================================== SLA, limits and SMS segments

  /**
   * The SLA badge of a conversation: its nearest target, coloured by status, with a live
   * countdown (updated every second by onCountdown). A due time that passes on screen turns the
   * badge red before the server's next word.
   */
  function slaBadge(sla, compact) {
    if (!sla || !sla.status) return null;
    const target = String(sla.target || "");
    const badge = h("span", {
      class: "sla",
      "data-sla-status": sla.status,
      "data-due": sla.due_at || null,
      "data-target": target,
      "data-compact": compact ? "true" : null,
    });
    updateSlaBadge(badge);
    return badge;
  }

  function updateSlaBadge(badge) {
    const due = Date.parse(badge.dataset.due);
    let status = badge.dataset.slaStatus;
    const left = isNaN(due) ? null : due - Date.now();
    if (left !== null && left <= 0) status = "breached";
    // The server pushes breaches only; entering the at-risk window is seen here.
    const atRisk = Number(state.workspace && state.workspace.at_risk_seconds) * 1000;
    if (status === "ok" && left !== null && atRisk > 0 && left <= atRisk) status = "at_risk";
    badge.dataset.state = status;
    const row = badge.closest(".conv-item");
    if (row) row.dataset.sla = status;
    const target = badge.dataset.target;
    const name = (badge.dataset.compact ? SLA_SHORT : SLA_LABELS)[target] || "SLA";
    let text;
    if (left === null) text = name + (status === "breached" ? " overdue" : "");
    else if (left > 0) text = name + " in " + formatCountdown(left);
    else text = name + " overdue " + formatCountdown(left);
    badge.textContent = text;
    const statusText = { ok: "on track", at_risk: "at risk", breached: "breached" }[status] || status;
    badge.title = "SLA " + (SLA_LABELS[target] || target).toLowerCase() + ": " + statusText +
      (isNaN(due) ? "" : ", due " + formatClock(badge.dataset.due));
  }

  // GSM 03.38: the basic set costs one septet, the extension set two; anything else means UCS-2.
  const GSM7_BASIC = new Set(Array.from(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡" +
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"));
  const GSM7_EXTENDED = new Set(Array.from("^{}\\[~]|€\f"));

  /**
   * How many SMS a text takes, as channels/text.py segments() bills it: GSM-7 160 septets in one
   * message, else 153 per part; otherwise UCS-2 70 code units, else 67. An escaped GSM character
   * (two septets) or a surrogate pair (two units) is never split across parts.
   */
  function smsSegments(text) {
    const chars = Array.from(text);
    const gsm = chars.every((ch) => GSM7_BASIC.has(ch) || GSM7_EXTENDED.has(ch));
    const units = gsm
      ? chars.map((ch) => (GSM7_EXTENDED.has(ch) ? 2 : 1))
      : chars.map((ch) => (ch.codePointAt(0) > 0xffff ? 2 : 1));
    const [single, multi] = gsm ? [160, 153] : [70, 67];
    const total = units.reduce((a, b) => a + b, 0);
    let segments = total === 0 ? 0 : 1;
    if (total > single) {
      let used = 0;
      for (const size of units) {
        if (used + size > multi) {
          segments += 1;
          used = 0;
        }
        used += size;
      }
    }
    return { encoding: gsm ? "GSM-7" : "UCS-2", units: total, segments, perSegment: segments > 1 ? multi : single };
  }

  /** Characters as the server counts them (code points, like Python's len). */
  function charCount(text) {
    let n = 0;
    for (const _ of text) n += 1; // eslint-disable-line no-unused-vars
    return n;
  }

  function constraintsOf(conv) {
    const c = (conv && conv.constraints) || {};
    const max = Number(c.max_chars);
    return {
      maxChars: max > 0 ? max : DEFAULT_MAX_CHARS,
      sms: !!c.sms,
      windowEndsAt: c.reply_window_ends_at || null,
      optedOut: !!c.opted_out,
    };
  }

  /** Milliseconds left in the reply window; null when the channel has none. */
  function windowLeft(conv) {
    const ends = Date.parse(constraintsOf(conv).windowEndsAt);
    return isNaN(ends) ? null : ends - Date.now();
  }

  // ================================================================== notices

  /**
   * Transient message under the top bar (#notice); errors stay a little longer. An optional
   * action ({label, run}) adds a button, e.g. "Open" for a conversation assigned to you.
   */
  function showNotice(text, kind, action) {
    const notice = $("notice");
    $("notice-text").textContent = text;
    const button = $("notice-action");
    button.onclick = null;
    if (action) {
      button.textContent = action.label;
      button.hidden = false;
      button.onclick = () => {
        notice.hidden = true;
        action.run();
      };
    } else {
      button.textContent = "";
      button.hidden = true;
    }
    notice.dataset.kind = kind || "info";
    notice.hidden = false;
    clearTimeout(state.noticeTimer);
    state.noticeTimer = setTimeout(() => {
      notice.hidden = true;
    }, kind === "error" || action ? 8000 : 5000);
  }

  /** Shows an API failure. 401s are already handled (back to sign-in), so they stay quiet. */
  function report(err, fallback) {
    if (err && err.status === 401) return;
    showNotice((err && err.message) || fallback || "Something went wrong.", "error");
  }

  /** An error inside a dialog: the server's message, right where the agent is looking. */
  function showDialogError(id, err, fallback) {
    const el = $(id);
    if (!err) {
      el.hidden = true;
      el.textContent = "";
      return;
    }
    if (err.status === 401) return;
    el.textContent = (err.message || fallback || "Something went wrong.") + (err.code && err.status ? " (" + err.code + ")" : "");
    el.hidden = false;
  }

  // ================================================================== API

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
    if (body !== undefined) headers["Content-Type"] = opts.contentType || "application/json";
    if (state.token && !opts.anonymous) headers.Authorization = "Bearer " + state.token;
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        // With a contentType the body goes as it is (a File for the import), else as JSON.
        body: body === undefined ? undefined : opts.contentType ? body : JSON.stringify(body),
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

  /**
   * Wraps a refresh so that bursts of events cost at most one request in flight plus one more
   * afterwards (to pick up what changed meanwhile), instead of one request per event.
   */
  function coalesced(task, quiet) {
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
          if (!quiet) report(err, "Could not refresh.");
        } finally {
          running = null;
        }
      })();
      return running;
    };
  }

  // ================================================================== session and sign-in

  function loadSession() {
    try {
      state.token = sessionStorage.getItem(TOKEN_KEY);
      state.agent = JSON.parse(sessionStorage.getItem(AGENT_KEY) || "null");
    } catch (e) {
      state.token = null;
      state.agent = null;
    }
    try {
      state.panelOpen = localStorage.getItem(PANEL_KEY) !== "closed";
    } catch (e) {
      state.panelOpen = true;
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

  /** Confirms the token is still good (api() handles a 401) and picks up role and presence. */
  function verifySession() {
    if (!state.token) return;
    api("GET", "/me").then(updateAgent).catch((err) => report(err));
  }

  /** Leaves the signed-in state: socket, timers, lists, dialogs and the open conversation. */
  function teardown() {
    clearSession();
    closeSocket();
    clearInterval(state.tickTimer);
    clearInterval(state.countdownTimer);
    clearTimeout(state.supervisor.timer);
    clearTimeout(state.typing.idleTimer);
    state.typing.convId = null;
    state.queue = [];
    state.mine = [];
    state.workspace = null;
    state.supervisor.data = null;
    state.unread.clear();
    state.drafts.clear();
    state.deliveries.clear();
    for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
    closeCannedPicker();
    closeConversationView();
    setView("conversations");
    resetKb();
    for (const hooks of Object.values(viewHooks)) if (hooks.reset) hooks.reset();
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
      const data = await api("POST", "/auth/login", { email, password, client: "console" }, { anonymous: true, handle401: true });
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

  /** Signed in: show the app, start live updates and load everything. */
  function enterApp() {
    $("login-view").hidden = true;
    $("app").hidden = false;
    renderAgent();
    renderAgentsOnline();
    connectSocket();
    refreshQueue();
    refreshMine();
    verifySession();
    loadWorkspace();
    clearInterval(state.tickTimer);
    state.tickTimer = setInterval(onTick, TICK_MS);
    clearInterval(state.countdownTimer);
    state.countdownTimer = setInterval(onCountdown, COUNTDOWN_MS);
  }

  // ================================================================== presence and roles

  /** Merges what the server says about us (the socket's "ready" only has id, name and email). */
  function updateAgent(agent) {
    if (!agent || !state.token) return;
    saveSession(state.token, Object.assign({}, state.agent || {}, agent));
    renderAgent();
  }

  function role() {
    return (state.agent && state.agent.role) || "agent";
  }

  function isSupervisor() {
    return SUPERVISOR_ROLES.includes(role());
  }

  function canManageCanned() {
    return CANNED_ROLES.includes(role());
  }

  function isKbPublisher() {
    return KB_PUBLISHER_ROLES.includes(role());
  }

  function renderAgent() {
    const agent = state.agent || {};
    $("agent-name").textContent = agent.name || agent.display_name || agent.email || "";
    $("agent-name").title = [humanize(agent.role), (agent.teams || []).join(", ")].filter(Boolean).join(" · ");
    renderPresence(agent.presence);
    $("open-canned").hidden = !canManageCanned();
    $("kb-import").hidden = !isKbPublisher();
    $("tab-supervisor").hidden = !isSupervisor();
    $("tab-reports").hidden = !isSupervisor();
    if (!isSupervisor() && SUPERVISOR_VIEWS.includes(state.view)) setView("conversations");
  }

  function renderPresence(value) {
    const presence = PRESENCE_LABELS[value] ? value : "offline";
    const select = $("presence");
    if (!select.dataset.busy) select.value = presence;
    $("presence-wrap").dataset.presence = presence;
  }

  async function onPresenceChange() {
    const select = $("presence");
    const wanted = select.value;
    const before = (state.agent && state.agent.presence) || "offline";
    select.dataset.busy = "true";
    $("presence-wrap").dataset.presence = wanted;
    try {
      const agent = await api("PATCH", "/me", { presence: wanted });
      updateAgent(Object.assign({ presence: wanted }, agent || {}));
      showNotice({
        online: "You are online: new conversations can be assigned to you.",
        away: "You are away: no new conversations will be assigned to you.",
        offline: "You are offline.",
      }[wanted]);
    } catch (err) {
      renderPresence(before);
      report(err, "Could not change your status.");
    } finally {
      delete select.dataset.busy;
      renderPresence((state.agent && state.agent.presence) || before);
    }
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

  // ================================================================== workspace settings

  /** Teams, dispositions and the like, for the dialogs. Missing endpoint: sensible defaults. */
  async function loadWorkspace() {
    try {
      state.workspace = (await api("GET", "/workspace")) || {};
    } catch (err) {
      if (err.status === 401) return;
      state.workspace = state.workspace || { teams: [], dispositions: [], disposition_required: false };
    }
    return state.workspace;
  }

  function workspaceTeams() {
    return ((state.workspace && state.workspace.teams) || []).filter((t) => t && t.name);
  }

  // ================================================================== lists

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

  /** Our own presence may be changed by the server (disconnect handling, a supervisor). */
  const refreshMe = coalesced(async () => updateAgent(await api("GET", "/me")), true);

  function refreshAll() {
    refreshQueue();
    refreshMine();
    if (state.openId) refreshOpen();
    if (isSupervisor()) scheduleSupervisorRefresh();
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
    const row = h("li", {
      class: "conv-item queue-item",
      "data-conversation-id": id,
      "data-priority": conv.priority || 0,
      "data-sla": conv.sla ? conv.sla.status : null,
      "data-vip": isVip(conv) ? "true" : null,
    });
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
    const row = h("li", {
      class: "conv-item mine-item",
      "data-conversation-id": id,
      "data-sla": conv.sla ? conv.sla.status : null,
      "data-vip": isVip(conv) ? "true" : null,
    });
    row.append(summaryButton(conv, (last && last.created_at) || conv.updated_at, "Last message "));
    decorateRow(row, id);
    return row;
  }

  /** The clickable part of a row: name, badges, age, SLA, last message. Opens the conversation. */
  function summaryButton(conv, sinceIso, sinceLabel) {
    const priority = Number(conv.priority) || 0;
    const age = h("span", { class: "row-age", "data-since": sinceIso, title: sinceIso ? sinceLabel + formatClock(sinceIso) : null }, formatAge(sinceIso));
    markLongWait(age, sinceIso);
    const segment = conv.customer && conv.customer.segment;
    const button = h("button", { type: "button", class: "row-main" }, [
      h("span", { class: "row-top" }, [
        h("span", { class: "row-name", dir: "auto" }, customerName(conv)),
        segmentBadge(segment),
        priority > 0 ? h("span", { class: "priority", title: "Priority " + priority }, "P" + priority) : null,
        age,
      ]),
      h("span", { class: "row-tags" }, [
        h("span", { class: "row-channel" }, channelLabel(conv.channel)),
        teamBadge(conv.team),
        slaBadge(conv.sla, true),
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
    if (!message || message.kind === "note") return;
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

  /** j / k: the next or previous row of both lists, as they are shown. */
  function moveInList(step) {
    const rows = Array.from(document.querySelectorAll("#queue-list .conv-item, #mine-list .conv-item"));
    if (!rows.length) return;
    let index = rows.findIndex((row) => row.dataset.conversationId === state.openId);
    if (index === -1) {
      const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".conv-item");
      index = focused ? rows.indexOf(focused) : -1;
    }
    const next = index === -1 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, index + step));
    const row = rows[next];
    const button = row.getElementsByClassName("row-main")[0];
    openConversation(row.dataset.conversationId);
    if (button) button.focus();
  }

  /** Every TICK_MS: refresh the ages; while the socket is down, poll so nothing is missed. */
  function onTick() {
    for (const el of document.querySelectorAll("[data-since]")) {
      el.textContent = formatAge(el.dataset.since);
      markLongWait(el, el.dataset.since);
    }
    if (!state.live && state.token) refreshAll();
  }

  /** Every second: SLA countdowns and the reply window. */
  function onCountdown() {
    for (const badge of document.querySelectorAll(".sla[data-due]")) updateSlaBadge(badge);
    if (state.openConv && constraintsOf(state.openConv).windowEndsAt) updateReplyState();
  }

  // ================================================================== claiming

  async function claimConversation(id) {
    try {
      const conv = await api("POST", "/conversations/" + enc(id) + "/claim");
      showNotice("Conversation claimed.");
      refreshQueue();
      refreshMine();
      openConversation(conv && conv.id != null ? conv.id : id);
    } catch (err) {
      if (err.status === 409) {
        showNotice("Too late: another agent already has this conversation.", "warn");
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
    if (button.disabled) return;
    button.disabled = true;
    try {
      const conv = await api("POST", "/queue/claim");
      showNotice("Conversation claimed.");
      refreshMine();
      if (conv && conv.id != null) openConversation(conv.id);
    } catch (err) {
      if (err.status === 404 || err.code === "queue_empty") showNotice("The queue is empty. Nobody is waiting.");
      else if (err.status === 409) showNotice(err.message || "Another agent was faster. Try again.", "warn");
      else report(err, "Could not claim the next conversation.");
    } finally {
      button.disabled = false;
      refreshQueue();
    }
  }

  // ================================================================== the open conversation

  function openConversation(rawId) {
    const id = String(rawId);
    if (state.view !== "conversations") setView("conversations");
    if (state.openId !== id) {
      saveDraft();
      stopAgentTyping();
      hideCustomerTyping();
      closeCannedPicker();
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
      $("conv-badges").replaceChildren();
      $("conv-meta").replaceChildren();
      $("reply-input").value = state.drafts.get(id) || "";
      setNoteMode(false, false);
      setActionsEnabled(null);
      renderCustomerPanelVisibility();
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
      const customerId = conv && conv.customer && conv.customer.id;
      if (customerId != null && String(customerId) !== String(state.customer.id)) loadCustomer(customerId);
      else if (customerId != null) refreshCustomerProfile();
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
    closeCannedPicker();
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
    resetCustomerPanel();
    renderCustomerPanelVisibility();
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
    const segment = conv.customer && conv.customer.segment;
    $("conv-badges").replaceChildren(...[
      segmentBadge(segment),
      teamBadge(conv.team),
      slaBadge(conv.sla, false),
      conv.disposition ? h("span", { class: "badge badge-disposition", title: "Disposition" }, humanize(conv.disposition)) : null,
      csatBadge(conv.csat),
    ].filter(Boolean));
    const status = conv.status || "unknown";
    const parts = [
      h("span", { class: "status status-" + status.replace(/[^a-z_]/g, "") }, status),
      conv.reference ? h("span", { class: "reference" }, "#" + conv.reference) : null,
      conv.channel ? h("span", { class: "conv-channel" }, channelLabel(conv.channel)) : null,
      conv.subject ? h("span", { class: "subject", dir: "auto" }, String(conv.subject)) : null,
      conv.assignee ? h("span", { dir: "auto" }, "Assigned to " + (isMine(conv) && state.agent ? "you" : conv.assignee.name || "an agent")) : null,
      conv.created_at ? h("span", null, "Started " + formatClock(conv.created_at)) : null,
    ].filter(Boolean);
    $("conv-meta").replaceChildren(...parts);
    setActionsEnabled(conv);
  }

  function csatBadge(csat) {
    if (!csat) return null;
    if (csat.score != null) {
      const score = Number(csat.score);
      return h("span", { class: "badge badge-csat csat-" + (score >= 4 ? "good" : score === 3 ? "mid" : "bad"), title: csat.comment ? "Comment: " + csat.comment : "Customer satisfaction" },
        "CSAT " + score + "/5");
    }
    const label = { asked: "Survey sent", comment: "Survey: waiting for a comment", skipped: "Survey skipped", done: "Survey done" }[csat.state];
    return label ? h("span", { class: "badge badge-csat" }, label) : null;
  }

  /**
   * Which buttons make sense for this status. Replying needs the conversation assigned to me;
   * the server has the last word on everything else (its refusals show up as notices).
   */
  function setActionsEnabled(conv) {
    const status = conv ? conv.status : null;
    const mine = !!conv && isMine(conv);
    $("claim-open").hidden = !(status === "queued" || status === "bot");
    $("close-conversation").disabled = !conv || status === "closed";
    $("handback").disabled = !conv || status === "closed" || status === "bot";
    $("transfer-open").disabled = !conv || !(status === "queued" || status === "assigned") ||
      (status === "assigned" && !mine && !isSupervisor()) || (status === "queued" && !isSupervisor());
    updateReplyState();
  }

  // ================================================================== history entries

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
  function insertInOrder(list, node, id) {
    let before = list.lastElementChild;
    while (before && Number(before.dataset.id) > id) before = before.previousElementSibling;
    list.insertBefore(node, before ? before.nextSibling : list.firstChild);
  }

  /**
   * One history entry, class "entry entry-<kind>". Events (claim, close, transfer…) are small
   * centred lines; notes are amber, dashed and labelled staff-only; survey answers show stars.
   * options.timeline adds the channel (the customer panel mixes channels); options.compact uses
   * shorter labels for the narrow panel.
   */
  function renderEntry(message, options) {
    const opts = options || {};
    const kind = String(message.kind || "message").toLowerCase().replace(/[^a-z0-9_]/g, "") || "message";
    const meta = message.meta || {};
    const entry = h("li", { class: "entry entry-" + kind, "data-id": message.id, "data-author": message.author, "data-kind": kind });
    const time = h("time", { datetime: message.created_at, class: "entry-time", title: message.created_at ? new Date(message.created_at).toLocaleString() : null }, formatClock(message.created_at));
    const channel = opts.timeline && message.channel ? h("span", { class: "entry-channel" }, channelLabel(message.channel)) : null;
    if (EVENT_KINDS.includes(kind)) {
      entry.classList.add("entry-event");
      entry.append(...[h("span", { class: "entry-text", dir: "auto" }, eventText(kind, message)), channel, time].filter(Boolean));
      if (kind === "transfer") entry.title = "Internal: only staff see this";
      return entry;
    }
    if (kind === "survey") {
      entry.append(surveyBody(message), time);
      return entry;
    }
    const label = (opts.compact ? { bot_answer: "Bot", note: "Note · staff only" } : { bot_answer: "Bot answer", note: "Internal note · staff only" })[kind];
    // How the customer's message reads (bot/sentiment.py): a hint to look, not a verdict.
    const mood = { negative: "Sounds unhappy", positive: "Sounds happy" }[meta.sentiment];
    entry.append(
      h("div", { class: "entry-head" }, [
        h("span", { class: "entry-author", dir: "auto" }, authorLabel(message)),
        label ? h("span", { class: "entry-kind" }, label) : null,
        mood ? h("span", { class: "entry-mood", "data-mood": meta.sentiment, title: "Read from the words of the message" }, mood) : null,
        channel,
        time,
      ]),
      h("div", { class: "entry-text", dir: "auto" }, message.text == null ? "" : String(message.text))
    );
    if (kind === "note") entry.setAttribute("aria-label", "Internal note by " + authorLabel(message) + ", not visible to the customer");
    if (kind === "bot_answer") entry.append(botMeta(meta));
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
    if (message.author === "customer") {
      if (state.customer.profile && state.customer.profile.display_name) return String(state.customer.profile.display_name);
      return state.openConv ? customerName(state.openConv) : "Customer";
    }
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
      case "transfer": return who ? who + " transferred the conversation" : "Conversation transferred";
      default: return "System event";
    }
  }

  /** A satisfaction survey answer: stars and the comment (meta.csat {score, comment}). */
  function surveyBody(message) {
    const meta = message.meta || {};
    const csat = typeof meta.csat === "object" && meta.csat !== null ? meta.csat : { score: meta.csat != null ? meta.csat : meta.score, comment: meta.comment };
    const score = csat.score == null ? null : Number(csat.score);
    const parts = [
      h("span", { class: "entry-author", dir: "auto" }, authorLabel(message)),
      h("span", { class: "entry-kind" }, "Satisfaction survey"),
    ];
    if (score !== null && !isNaN(score)) {
      const stars = "★★★★★".slice(0, Math.max(0, Math.min(5, score))) + "☆☆☆☆☆".slice(0, 5 - Math.max(0, Math.min(5, score)));
      parts.push(h("span", { class: "stars", "aria-label": score + " out of 5" }, stars), h("span", { class: "survey-score" }, score + "/5"));
    }
    const body = h("div", { class: "survey" }, [h("div", { class: "entry-head" }, parts)]);
    const comment = csat.comment || (score === null ? message.text : null);
    if (comment) body.append(h("div", { class: "entry-text", dir: "auto" }, String(comment)));
    return body;
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
      await download("/attachments/" + enc(item.id), String(item.name || "attachment"));
    } catch (e) {
      report(e, "Could not download the file");
    }
  }

  /**
   * Saves what an authenticated GET returns as a file. The API needs the bearer header, which a
   * plain link cannot send: fetch, then hand the browser a Blob under an object URL. The name is
   * the server's (Content-Disposition) when it gives one.
   */
  async function download(path, fallbackName) {
    const response = await fetch(API + path, {
      headers: { Authorization: "Bearer " + state.token },
      cache: "no-store",
    });
    if (!response.ok) {
      let error = {};
      try {
        error = (await response.json()).error || {};
      } catch (e) {
        /* not JSON */
      }
      if (response.status === 401) sessionExpired();
      throw new ApiError(response.status, error.code || "http_" + response.status, error.message || "Download failed");
    }
    const disposition = response.headers.get("Content-Disposition") || "";
    const named = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    const name = named ? decodeURIComponent(named[1]) : fallbackName;
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    return name;
  }

  /** Which article the bot used, how sure it was, and what it suggested. */
  function botMeta(meta) {
    const confidence = formatConfidence(meta.confidence);
    const number = Number(meta.confidence);
    const ratio = confidence === null ? null : number <= 1 ? number : number / 100;
    const level = ratio === null ? "" : ratio >= 0.8 ? "high" : ratio >= 0.5 ? "mid" : "low";
    const suggestions = Array.isArray(meta.suggestions) ? meta.suggestions : [];
    return h("div", { class: "entry-meta" }, [
      meta.article_id != null
        ? h("span", { class: "article", dir: "auto", title: meta.article_title ? String(meta.article_title) : null }, "Article " + meta.article_id + (meta.article_title ? " · " + meta.article_title : ""))
        : h("span", { class: "article" }, "No article"),
      confidence ? h("span", { class: "confidence confidence-" + level, title: "Bot confidence" }, "Confidence " + confidence) : null,
      suggestions.length
        ? h("span", { class: "suggested", dir: "auto" }, "Suggested: " + suggestions.map((s) => String((s && (s.title || s.article_id)) || s)).join(" · "))
        : null,
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

  // ================================================================== reply box: modes, limits, sending

  /** Reply to the customer, or write an internal note (only staff see it). */
  function setNoteMode(on, focus) {
    state.noteMode = !!on;
    const form = $("reply-form");
    form.dataset.mode = on ? "note" : "reply";
    $("mode-reply").setAttribute("aria-pressed", on ? "false" : "true");
    $("mode-note").setAttribute("aria-pressed", on ? "true" : "false");
    $("reply-label").textContent = on ? "Internal note, only staff see it" : "Reply to the customer";
    if (on) stopAgentTyping();
    updateReplyState();
    if (focus) {
      const input = $("reply-input");
      if (!input.disabled) input.focus();
    }
  }

  /**
   * Enables the box and Send for the mode and the channel's rules: the conversation must be mine
   * to reply; an opted-out customer or a closed 24-hour window blocks replies (not notes); too many
   * characters blocks both. Also draws the counter, SMS segments and time left in the window.
   */
  function updateReplyState() {
    const conv = state.openConv;
    const input = $("reply-input");
    const send = $("reply-send");
    const blocked = $("reply-blocked");
    const c = constraintsOf(conv);
    const text = input.value.trim();
    const count = charCount(text);
    let reason = "";
    let canWrite;
    if (state.noteMode) {
      canWrite = !!conv;
      input.placeholder = "Internal note: only staff see it. Ctrl+Enter adds it.";
      send.textContent = "Add note";
    } else {
      const status = conv ? conv.status : null;
      canWrite = !!conv && status === "assigned" && isMine(conv);
      const left = windowLeft(conv);
      if (canWrite && c.optedOut) {
        canWrite = false;
        reason = "This customer opted out of messages on " + channelLabel(conv.channel) + ". You cannot reply here; add an internal note instead.";
      } else if (canWrite && left !== null && left <= 0) {
        canWrite = false;
        reason = "The 24-hour reply window on " + channelLabel(conv.channel) + " closed at " + formatClock(c.windowEndsAt) +
          ". The customer has to write first.";
      }
      input.placeholder = !conv ? "" : canWrite
        ? "Type a reply. Enter sends, Shift+Enter adds a new line, / for canned responses."
        : reason ? "Replies are blocked." : status === "closed" ? "This conversation is closed." : "Claim this conversation to reply.";
      send.textContent = "Send";
    }
    blocked.textContent = reason;
    blocked.hidden = !reason;
    input.disabled = !canWrite;
    const over = count > c.maxChars;
    send.disabled = !canWrite || state.sending || over;

    const counter = $("char-count");
    counter.textContent = count + " / " + c.maxChars;
    counter.classList.toggle("over", over);
    counter.classList.toggle("near", !over && count > c.maxChars * 0.9);
    counter.title = over ? "Too long: the limit is " + c.maxChars + " characters" : "Characters";

    const sms = $("sms-count");
    if (c.sms && !state.noteMode && conv) {
      const info = smsSegments(text);
      sms.hidden = false;
      sms.textContent = info.segments === 1 ? "1 SMS" : info.segments + " SMS";
      sms.title = info.encoding + ": " + info.perSegment + " characters per SMS" + (info.encoding === "UCS-2" ? " (the text has characters outside GSM-7)" : "");
      sms.dataset.encoding = info.encoding;
      sms.append(h("span", { class: "muted" }, " · " + info.encoding));
    } else {
      sms.hidden = true;
    }

    const windowEl = $("window-left");
    const left = windowLeft(conv);
    if (left !== null && !state.noteMode) {
      windowEl.hidden = false;
      windowEl.dataset.state = left <= 0 ? "closed" : left < WINDOW_WARN_MS ? "closing" : "open";
      windowEl.textContent = left <= 0 ? "Reply window closed" : "Reply window: " + formatCountdown(left) + " left";
      windowEl.title = "Replies are possible until " + formatClock(c.windowEndsAt) + " (24 hours after the customer's last message)";
    } else {
      windowEl.hidden = true;
    }
  }

  async function sendReply() {
    const id = state.openId;
    const input = $("reply-input");
    const text = input.value.trim();
    if (!id || !text || state.sending || input.disabled || $("reply-send").disabled) return;
    const note = state.noteMode;
    state.sending = true;
    $("reply-send").disabled = true;
    closeCannedPicker();
    if (!note) stopAgentTyping();
    try {
      const path = "/conversations/" + enc(id) + (note ? "/notes" : "/messages");
      const message = await api("POST", path, { text });
      // Clear only what was sent: the agent may already be typing the next line.
      if (state.openId === id && input.value.trim() === text) input.value = "";
      state.drafts.delete(id);
      if (state.openId === id && message && message.id != null) {
        if (state.loading) state.liveBuffer.push(message);
        else upsertEntry(message);
        addToTimeline(message);
      }
      if (note) showNotice("Internal note added.");
    } catch (err) {
      report(err, note ? "The note was not added. It is still in the box." : "Your reply was not sent. It is still in the box.");
    } finally {
      state.sending = false;
      updateReplyState();
      if (state.openId === id) input.focus();
    }
  }

  /** Hand back: one POST, then everything that may have changed is refetched. */
  async function handBack() {
    const id = state.openId;
    if (!id) return;
    const button = $("handback");
    button.disabled = true;
    stopAgentTyping();
    try {
      await api("POST", "/conversations/" + enc(id) + "/handback");
      showNotice("Handed back to the bot.");
      state.drafts.delete(id);
      refreshMine();
      refreshQueue();
      if (state.openId === id) await refreshOpen();
    } catch (err) {
      report(err, "Could not hand the conversation back.");
      setActionsEnabled(state.openConv);
    }
  }

  function onReplyKeydown(event) {
    if (state.canned.open && onCannedKeydown(event)) return;
    if (event.key !== "Enter" || event.shiftKey) return;
    // Enter while an IME is composing (Chinese, Japanese…) confirms the candidate; it must not send.
    if (event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    sendReply();
  }

  function onReplyInput() {
    updateReplyState();
    updateCannedPicker();
    if (!state.noteMode && !state.canned.open) onAgentTyping();
  }

  // ================================================================== canned response picker

  /** What follows a "/" typed at the very start of the box, up to the caret; null if none. */
  function cannedQuery() {
    const input = $("reply-input");
    if (input.disabled) return null;
    const before = input.value.slice(0, input.selectionStart);
    const match = /^\/([^\n]*)$/.exec(before);
    return match ? match[1] : null;
  }

  function updateCannedPicker() {
    const query = cannedQuery();
    if (query === null) {
      state.canned.suppressed = false;
      closeCannedPicker();
      return;
    }
    if (state.canned.suppressed) return;
    openCannedPicker();
    clearTimeout(state.canned.timer);
    state.canned.timer = setTimeout(() => fetchCanned(query), CANNED_DEBOUNCE_MS);
  }

  function openCannedPicker() {
    if (state.canned.open) return;
    state.canned.open = true;
    $("canned-picker").hidden = false;
    $("reply-input").setAttribute("aria-expanded", "true");
  }

  function closeCannedPicker() {
    clearTimeout(state.canned.timer);
    state.canned.seq += 1;
    state.canned.open = false;
    state.canned.items = [];
    state.canned.active = -1;
    $("canned-picker").hidden = true;
    $("canned-options").replaceChildren();
    const input = $("reply-input");
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  async function fetchCanned(query) {
    const id = state.openId;
    const seq = ++state.canned.seq;
    try {
      const data = await api("GET", "/canned-responses?conversation_id=" + enc(id) + "&q=" + enc(query.trim()));
      if (seq !== state.canned.seq || !state.canned.open) return;
      state.canned.items = (data && data.items) || [];
      state.canned.active = state.canned.items.length ? 0 : -1;
      renderCannedOptions();
    } catch (err) {
      if (seq !== state.canned.seq) return;
      closeCannedPicker();
      report(err, "Could not load canned responses.");
    }
  }

  function renderCannedOptions() {
    const list = $("canned-options");
    const items = state.canned.items;
    list.replaceChildren(...items.map((item, index) => {
      const text = String(item.rendered != null ? item.rendered : item.text || "");
      const option = h("li", {
        id: "canned-option-" + index,
        class: "canned-option",
        role: "option",
        "aria-selected": index === state.canned.active ? "true" : "false",
        "data-shortcut": item.shortcut,
      }, [
        h("span", { class: "canned-line" }, [
          h("span", { class: "canned-shortcut" }, "/" + String(item.shortcut || "")),
          h("span", { class: "canned-title", dir: "auto" }, String(item.title || "")),
          item.team ? teamBadge(item.team) : null,
        ]),
        h("span", { class: "canned-preview", dir: "auto" }, text.replace(/\s+/g, " ").slice(0, 140)),
      ]);
      // mousedown would move the focus out of the box (and close the picker): keep it there.
      option.addEventListener("mousedown", (event) => event.preventDefault());
      option.addEventListener("click", () => insertCanned(index));
      return option;
    }));
    $("canned-empty").hidden = items.length > 0;
    highlightCanned();
  }

  function highlightCanned() {
    const input = $("reply-input");
    const options = $("canned-options").children;
    for (let i = 0; i < options.length; i += 1) {
      options[i].setAttribute("aria-selected", i === state.canned.active ? "true" : "false");
    }
    const active = options[state.canned.active];
    if (active) {
      input.setAttribute("aria-activedescendant", active.id);
      active.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  /** Keys while the picker is open; true when the key was the picker's. */
  function onCannedKeydown(event) {
    const count = state.canned.items.length;
    switch (event.key) {
      case "ArrowDown":
        if (!count) return false;
        event.preventDefault();
        state.canned.active = (state.canned.active + 1) % count;
        highlightCanned();
        return true;
      case "ArrowUp":
        if (!count) return false;
        event.preventDefault();
        state.canned.active = (state.canned.active - 1 + count) % count;
        highlightCanned();
        return true;
      case "Enter":
        if (event.isComposing || event.keyCode === 229) return false;
        if (state.canned.active < 0) {
          event.preventDefault(); // nothing to insert yet (still loading): do not send "/text"
          return true;
        }
        event.preventDefault();
        insertCanned(state.canned.active);
        return true;
      case "Escape":
        event.preventDefault();
        event.stopPropagation();
        state.canned.suppressed = true;
        closeCannedPicker();
        return true;
      default:
        return false;
    }
  }

  /** Replaces "/query" with the response, rendered for this conversation. */
  function insertCanned(index) {
    const item = state.canned.items[index];
    if (!item) return;
    const input = $("reply-input");
    const text = String(item.rendered != null ? item.rendered : item.text || "");
    const caret = input.selectionStart;
    const after = input.value.slice(caret);
    input.value = text + after;
    const position = text.length;
    input.setSelectionRange(position, position);
    closeCannedPicker();
    input.focus();
    updateReplyState();
    if (!state.noteMode) onAgentTyping();
  }

  /** "/" from anywhere: the reply box, with the picker when the box is empty. */
  function focusReplyWithPicker() {
    if (state.view !== "conversations" || !state.openId) return;
    const input = $("reply-input");
    if (input.disabled) {
      showNotice(state.noteMode ? "Open a conversation first." : "You cannot reply in this conversation.", "warn");
      return;
    }
    input.focus();
    if (!input.value) {
      input.value = "/";
      input.setSelectionRange(1, 1);
      state.canned.suppressed = false;
      onReplyInput();
    } else {
      input.setSelectionRange(input.value.length, input.value.length);
    }
  }

  // ================================================================== customer panel

  function renderCustomerPanelVisibility() {
    const show = !!state.openId && state.panelOpen && state.view === "conversations";
    $("customer-panel").hidden = !show;
    const toggle = $("toggle-customer");
    toggle.setAttribute("aria-expanded", state.panelOpen ? "true" : "false");
    toggle.classList.toggle("active", state.panelOpen);
  }

  function toggleCustomerPanel() {
    state.panelOpen = !state.panelOpen;
    try {
      localStorage.setItem(PANEL_KEY, state.panelOpen ? "open" : "closed");
    } catch (e) {
      /* not remembered */
    }
    renderCustomerPanelVisibility();
  }

  function resetCustomerPanel() {
    state.customer = { id: null, profile: null, items: new Map(), nextBefore: null, channel: "", kind: "", seq: state.customer.seq + 1, olderLoading: false };
    $("customer-title").textContent = "Customer";
    $("customer-badges").replaceChildren();
    $("customer-facts").replaceChildren();
    $("customer-identities").replaceChildren();
    $("customer-conversations").replaceChildren();
    $("customer-attributes").replaceChildren();
    $("customer-tags").replaceChildren();
    $("customer-notes").replaceChildren();
    $("customer-duplicates").replaceChildren();
    $("timeline-kind").value = "";
    $("timeline").replaceChildren();
    $("timeline-older").hidden = true;
    $("timeline-empty").hidden = true;
    $("timeline-channel").replaceChildren(h("option", { value: "" }, "All channels"));
  }

  /** A new customer in the centre: their profile and the last page of their history. */
  async function loadCustomer(customerId) {
    resetCustomerPanel();
    state.customer.id = String(customerId);
    $("timeline-empty").hidden = false;
    $("timeline-empty").textContent = "Loading…";
    await Promise.all([refreshCustomerProfile(), loadTimeline(false), loadDuplicates()]);
  }

  /** Other customers who are probably this one, each with a Merge button. */
  async function loadDuplicates() {
    const id = state.customer.id;
    if (!id) return;
    const seq = state.customer.seq;
    let data;
    try {
      data = await api("GET", "/customers/" + enc(id) + "/duplicates");
    } catch (err) {
      report(err, "Could not look for duplicates.");
      return;
    }
    if (seq !== state.customer.seq) return;
    const items = (data && data.items) || [];
    $("customer-duplicates").replaceChildren(...(items.length ? items.map((d) => {
      const merge = h("button", { type: "button", class: "btn btn-small duplicate-merge" }, "Merge");
      merge.addEventListener("click", () => mergeDuplicate(d));
      return h("li", { class: "duplicate", "data-customer": String(d.customer_id) }, [
        h("span", { class: "duplicate-name", dir: "auto" }, d.display_name || "Customer " + d.customer_id),
        h("span", { class: "muted duplicate-reasons" }, (d.reasons || []).join("; ")),
        h("span", { class: "muted duplicate-score" }, Math.round(Number(d.score || 0) * 100) + "%"),
        merge,
      ]);
    }) : [h("li", { class: "list-empty" }, "None found")]));
  }

  async function mergeDuplicate(d) {
    const id = state.customer.id;
    const name = d.display_name || "customer " + d.customer_id;
    if (!window.confirm("Merge " + name + " into this customer? Their addresses, conversations and notes move here (it can be undone).")) return;
    try {
      await api("POST", "/customers/" + enc(id) + "/merge", { other_id: Number(d.customer_id), reason: "merged from the suggested duplicates" });
    } catch (err) {
      report(err, "Could not merge the customers.");
      return;
    }
    showNotice("Merged " + name + " into this customer.", "info");
    if (id === state.customer.id) await loadCustomer(id);
  }

  /** Record the customer's wish about one address (asked by phone, by letter …). */
  function consentButton(customerId, identity) {
    if (String(identity.address || "").startsWith("erased:")) return null;
    const out = !identity.opted_out;
    const button = h("button", { type: "button", class: "link-button identity-consent", "data-identity": identity.id,
      title: out ? "The customer asked not to be contacted here: nothing will be sent" : "The customer agreed to be contacted here again" },
      out ? "Opt out" : "Opt back in");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const profile = await api("PATCH", "/customers/" + enc(customerId) + "/identities/" + enc(identity.id), { opted_out: out });
        if (String(state.customer.id) === String(customerId)) {
          state.customer.profile = profile;
          renderProfile(profile);
        }
      } catch (err) {
        report(err, "Could not record the customer's choice.");
        button.disabled = false;
      }
    });
    return button;
  }

  async function addCustomerNote(event) {
    event.preventDefault();
    const id = state.customer.id;
    const box = $("customer-note-text");
    const text = box.value.trim();
    if (!id || !text) return;
    $("customer-note-add").disabled = true;
    try {
      await api("POST", "/customers/" + enc(id) + "/notes", { text });
      box.value = "";
      await refreshCustomerProfile();
    } catch (err) {
      report(err, "Could not save the note.");
    } finally {
      $("customer-note-add").disabled = false;
    }
  }

  const refreshCustomerProfile = coalesced(async () => {
    const id = state.customer.id;
    if (!id) return;
    const seq = state.customer.seq;
    const profile = await api("GET", "/customers/" + enc(id));
    if (seq !== state.customer.seq || id !== state.customer.id) return;
    state.customer.profile = profile;
    renderProfile(profile);
  }, true);

  function renderProfile(raw) {
    // The summary of the open conversation knows the segment even where the profile omits it.
    const summary = state.openConv && state.openConv.customer;
    const fromSummary = summary && String(summary.id) === String(raw.id) ? summary : {};
    const profile = Object.assign({}, raw, {
      segment: raw.segment !== undefined ? raw.segment : fromSummary.segment,
      display_name: raw.display_name || fromSummary.display_name || null,
    });
    $("customer-title").textContent = profile.display_name || (state.openConv ? customerName(state.openConv) : "Customer " + profile.id);
    $("customer-badges").replaceChildren(...[
      segmentBadge(profile.segment),
      profile.value_tier ? h("span", { class: "badge badge-tier", title: "Value tier" }, humanize(profile.value_tier)) : null,
      profile.lifecycle ? h("span", { class: "badge badge-lifecycle", title: "Lifecycle stage" }, humanize(profile.lifecycle)) : null,
    ].filter(Boolean));
    const attributes = Object.entries(profile.attributes || {}).sort(([a], [b]) => a.localeCompare(b));
    $("customer-attributes").replaceChildren(...(attributes.length
      ? attributes.flatMap(([key, value]) => [h("dt", { dir: "auto" }, key), h("dd", { dir: "auto" }, String(value))])
      : [h("dd", { class: "list-empty" }, "None")]));
    const tags = profile.tags || [];
    $("customer-tags").replaceChildren(...(tags.length
      ? tags.map((tag) => h("span", { class: "badge badge-tag", dir: "auto" }, tag))
      : [h("span", { class: "list-empty" }, "None")]));
    const notes = profile.notes || [];
    $("customer-notes").replaceChildren(...notes.map((note) => h("li", { class: "customer-note" }, [
      h("p", { class: "customer-note-text", dir: "auto" }, note.text),
      h("span", { class: "muted" }, (note.author || "") + " · " + formatClock(note.created_at)),
    ])));
    const facts = [
      ["Locale", profile.locale],
      ["Segment", profile.segment ? (String(profile.segment).toLowerCase() === "vip" ? "VIP" : humanize(profile.segment)) : null],
      ["Customer since", profile.created_at ? formatClock(profile.created_at) : null],
      ["Conversations", profile.lifetime ? String(profile.lifetime.conversations) : profile.conversations ? String(profile.conversations.length) : null],
      ["Languages", (profile.languages || []).join(", ") || null],
      ["Last contact", profile.lifetime && profile.lifetime.last_contact_at ? formatClock(profile.lifetime.last_contact_at) : null],
      ["CSAT", profile.lifetime && profile.lifetime.csat_count ? profile.lifetime.csat_average + " (" + profile.lifetime.csat_count + ")" : null],
    ].filter(([, value]) => value);
    $("customer-facts").replaceChildren(...facts.flatMap(([term, value]) => [h("dt", null, term), h("dd", { dir: "auto" }, value)]));

    const identities = profile.identities || [];
    $("customer-identities").replaceChildren(...(identities.length ? identities.map((identity) =>
      h("li", { class: "identity" }, [
        h("span", { class: "identity-channel" }, channelLabel(identity.channel)),
        h("span", { class: "identity-address", dir: "auto", title: String(identity.address || "") }, String(identity.address || "")),
        identity.opted_out ? h("span", { class: "badge badge-opted-out", title: "Opted out: nothing is sent here" }, "opted out") : null,
        consentButton(profile.id, identity),
      ])) : [h("li", { class: "list-empty" }, "None")]));

    const convs = (profile.conversations || []).slice().sort((a, b) => Number(b.id) - Number(a.id));
    $("customer-conversations").replaceChildren(...convs.map((conv) => {
      const current = String(conv.id) === state.openId;
      const button = h("button", { type: "button", class: "customer-conv", "aria-current": current ? "true" : null }, [
        h("span", { class: "status status-" + String(conv.status || "").replace(/[^a-z_]/g, "") }, String(conv.status || "")),
        h("span", null, channelLabel(conv.channel)),
        h("span", { class: "muted" }, formatClock(conv.created_at)),
        current ? h("span", { class: "muted" }, "(open)") : null,
      ]);
      button.addEventListener("click", () => openConversation(conv.id));
      return h("li", null, button);
    }));

    // The channel filter offers every channel the customer has used or can be reached on.
    const select = $("timeline-channel");
    const channels = new Set(identities.map((i) => i.channel).concat(convs.map((c) => c.channel)).filter(Boolean));
    const current = state.customer.channel;
    select.replaceChildren(h("option", { value: "" }, "All channels"),
      ...Array.from(channels).sort().map((channel) => h("option", { value: channel }, channelLabel(channel))));
    select.value = channels.has(current) ? current : "";
    renderTimeline(false);
  }

  /** One page of the cross-channel history; older=true pages back from the oldest shown. */
  async function loadTimeline(older) {
    const c = state.customer;
    if (!c.id) return;
    if (older && (c.olderLoading || c.nextBefore == null)) return;
    const seq = c.seq;
    const params = ["limit=" + HISTORY_PAGE];
    if (older) params.push("before=" + enc(c.nextBefore));
    if (c.channel) params.push("channel=" + enc(c.channel));
    if (c.kind) params.push("kind=" + enc(c.kind));
    const button = $("timeline-older");
    if (older) {
      c.olderLoading = true;
      button.disabled = true;
      button.textContent = "Loading…";
    }
    try {
      const data = await api("GET", "/customers/" + enc(c.id) + "/history?" + params.join("&"));
      if (seq !== state.customer.seq) return;
      for (const item of (data && data.items) || []) c.items.set(String(item.id), item);
      c.nextBefore = data ? data.next_before : null;
      renderTimeline(older);
    } catch (err) {
      if (seq === state.customer.seq) {
        $("timeline-empty").hidden = false;
        $("timeline-empty").textContent = "Could not load the history.";
      }
      report(err, "Could not load the customer's history.");
    } finally {
      if (seq === state.customer.seq) {
        c.olderLoading = false;
        button.disabled = false;
        button.textContent = "Load older";
      }
    }
  }

  /**
   * Draws the timeline, oldest first, with a line where each conversation starts. Keeps the
   * reader where they were: at the bottom, or on the same entries after "Load older".
   */
  function renderTimeline(older) {
    const list = $("timeline");
    const c = state.customer;
    const stick = !older && (list.childElementCount === 0 || isNearBottom(list));
    const fromBottom = list.scrollHeight - list.scrollTop;
    const items = Array.from(c.items.values())
      .filter((item) => !c.channel || item.channel === c.channel)
      .filter((item) => !c.kind || c.kind.split(",").includes(item.kind))
      .sort((a, b) => Number(a.id) - Number(b.id));
    const convInfo = new Map(((c.profile && c.profile.conversations) || []).map((conv) => [String(conv.id), conv]));
    const nodes = [];
    let lastConv = null;
    let convChannel = null;
    for (const item of items) {
      const convId = String(item.conversation_id);
      if (convId !== lastConv) {
        lastConv = convId;
        const info = convInfo.get(convId);
        convChannel = (info && info.channel) || item.channel;
        nodes.push(timelineDivider(convId, info, item));
      }
      // The divider names the conversation's channel; a tag only where a message differs.
      nodes.push(renderEntry(item, { compact: true, timeline: !!item.channel && item.channel !== convChannel }));
    }
    list.replaceChildren(...nodes);
    $("timeline-empty").hidden = items.length > 0;
    $("timeline-empty").textContent = "Nothing yet" + (c.channel ? " on " + channelLabel(c.channel) : "") + ".";
    $("timeline-older").hidden = c.nextBefore == null;
    if (stick) scrollToBottom(list);
    else if (older) list.scrollTop = list.scrollHeight - fromBottom;
  }

  function timelineDivider(convId, info, first) {
    const current = convId === state.openId;
    const label = "Conversation " + (info && info.reference ? "#" + info.reference : convId) + " · " +
      channelLabel((info && info.channel) || first.channel) + " · " + formatClock((info && info.created_at) || first.created_at);
    const li = h("li", { class: "timeline-divider", "data-conversation-id": convId, "data-id": first.id });
    if (current) li.append(h("span", null, label + " · this one"));
    else {
      const button = h("button", { type: "button", class: "link-button", title: "Open this conversation" }, label);
      button.addEventListener("click", () => openConversation(convId));
      li.append(button);
    }
    return li;
  }

  /** A live message of this customer (any of their conversations) joins the timeline. */
  function addToTimeline(message) {
    const c = state.customer;
    if (!c.id || !message || message.id == null) return;
    const convId = String(message.conversation_id);
    const known = convId === state.openId ||
      ((c.profile && c.profile.conversations) || []).some((conv) => String(conv.id) === convId);
    if (!known) return;
    c.items.set(String(message.id), message);
    renderTimeline(false);
  }

  function onTimelineChannelChange() {
    const c = state.customer;
    c.channel = $("timeline-channel").value;
    c.kind = $("timeline-kind").value;
    c.items = new Map();
    c.nextBefore = null;
    c.seq += 1;
    $("timeline").replaceChildren();
    loadTimeline(false);
  }

  // ================================================================== dialogs

  /** Opens a <dialog> modally; focus returns to where it was when it closes. */
  function showDialog(dialog, focusTarget) {
    if (dialog.open) return;
    const back = document.activeElement;
    closeCannedPicker();
    dialog.addEventListener("close", () => {
      if (back && document.contains(back) && !back.disabled) back.focus();
      else if (state.view === "kb" && !$("kb-form").hidden) $("kb-title").focus();
      else if (state.openId && !$("reply-input").disabled) $("reply-input").focus();
    }, { once: true });
    dialog.showModal();
    if (focusTarget) focusTarget.focus();
  }

  function wireDialogs() {
    for (const button of document.querySelectorAll("[data-close-dialog]")) {
      button.addEventListener("click", () => button.closest("dialog").close());
    }
    // A click on the backdrop (outside the dialog's box) closes it, like Esc. Editing anything
    // in a dialog clears its error: it was about what was there before.
    for (const dialog of document.querySelectorAll("dialog")) {
      dialog.addEventListener("input", (event) => {
        if (event.target.id === "canned-filter") return;
        for (const error of dialog.querySelectorAll(".dialog-error")) error.hidden = true;
      });
      dialog.addEventListener("click", (event) => {
        if (event.target !== dialog) return;
        const box = dialog.getBoundingClientRect();
        const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
        if (!inside) dialog.close();
      });
    }
  }

  // ------------------------------------------------------------------ transfer

  async function openTransferDialog() {
    const conv = state.openConv;
    if (!conv || $("transfer-open").disabled) return;
    const dialog = $("transfer-dialog");
    const select = $("transfer-target");
    showDialogError("transfer-error", null);
    $("transfer-note").value = "";
    select.replaceChildren(h("option", { value: "" }, "Loading…"));
    showDialog(dialog, select);
    let agents = [];
    try {
      const [data] = await Promise.all([api("GET", "/agents"), state.workspace ? null : loadWorkspace()]);
      agents = (data && data.items) || [];
    } catch (err) {
      showDialogError("transfer-error", err, "Could not load the agents.");
    }
    if (!dialog.open) return;
    state.agentsList = agents;
    const me = state.agent ? String(state.agent.id) : null;
    const others = agents.filter((agent) => String(agent.id) !== me && !(conv.assignee && String(conv.assignee.id) === String(agent.id)));
    const order = { online: 0, away: 1, offline: 2 };
    others.sort((a, b) => (order[a.presence] ?? 3) - (order[b.presence] ?? 3) || String(a.name).localeCompare(String(b.name)));
    const teams = workspaceTeams();
    select.replaceChildren(
      h("option", { value: "" }, "Choose an agent or a team…"),
      h("optgroup", { label: "Agents" }, others.length ? others.map((agent) => {
        const presence = agent.presence || "offline";
        const load = agent.load || {};
        const capacity = agent.capacity || {};
        const kind = conversationKind(conv.channel);
        const loadText = capacity[kind] != null ? (load[kind] || 0) + "/" + capacity[kind] + " " + kind : "";
        return h("option", {
          value: "agent:" + agent.id,
          disabled: presence === "offline",
          "data-presence": presence,
        }, String(agent.name) + " — " + PRESENCE_LABELS[presence] + (loadText ? " · " + loadText : "") +
          ((agent.teams || []).length ? " · " + agent.teams.join(", ") : ""));
      }) : h("option", { value: "", disabled: true }, "No other agents")),
      teams.length ? h("optgroup", { label: "Teams (back to their queue)" }, teams.map((team) =>
        h("option", { value: "team:" + team.name }, String(team.name) + (team.mode ? " (" + team.mode + ")" : "")))) : null,
    );
    const first = Array.from(select.options).find((option) => option.value && !option.disabled);
    if (first) select.value = first.value;
  }

  function conversationKind(channel) {
    if (channel === "voice") return "call";
    if (channel === "sms" || channel === "email") return "message";
    return CHANNEL_LABELS[channel] ? "chat" : "message";
  }

  async function onTransferSubmit(event) {
    event.preventDefault();
    const id = state.openId;
    const target = $("transfer-target").value;
    const note = $("transfer-note").value.trim();
    if (!target) {
      showDialogError("transfer-error", { message: "Choose who takes the conversation over." });
      $("transfer-target").focus();
      return;
    }
    if (!note) {
      showDialogError("transfer-error", { message: "Write a note for the next agent: what has been done, what is left." });
      $("transfer-note").focus();
      return;
    }
    const [kind, value] = [target.slice(0, target.indexOf(":")), target.slice(target.indexOf(":") + 1)];
    const body = kind === "agent" ? { agent_id: Number(value), note } : { team: value, note };
    const submit = $("transfer-submit");
    submit.disabled = true;
    try {
      await api("POST", "/conversations/" + enc(id) + "/transfer", body);
      $("transfer-dialog").close();
      const option = $("transfer-target").selectedOptions[0];
      const who = kind === "agent" ? String(option ? option.textContent.split(" — ")[0] : "the agent") : "the " + value + " team";
      showNotice("Transferred to " + who + ".");
      state.drafts.delete(id);
      refreshMine();
      refreshQueue();
      if (state.openId === id) refreshOpen();
    } catch (err) {
      showDialogError("transfer-error", err, "Could not transfer the conversation.");
    } finally {
      submit.disabled = false;
    }
  }

  // ------------------------------------------------------------------ close with a disposition

  async function openCloseDialog() {
    const conv = state.openConv;
    if (!conv || $("close-conversation").disabled) return;
    if (!state.workspace) await loadWorkspace();
    const ws = state.workspace || {};
    const dispositions = ws.dispositions || [];
    const required = !!ws.disposition_required && dispositions.length > 0;
    const select = $("close-disposition");
    select.replaceChildren(h("option", { value: "" }, required ? "Choose…" : "None"),
      ...dispositions.map((d) => h("option", { value: d }, humanize(d))));
    select.required = required;
    $("close-disposition-field").hidden = dispositions.length === 0;
    $("close-disposition-required").textContent = required ? "(required)" : "(optional)";
    $("close-note").value = "";
    showDialogError("close-error", null);
    showDialog($("close-dialog"), dispositions.length ? select : $("close-note"));
  }

  async function onCloseSubmit(event) {
    event.preventDefault();
    const id = state.openId;
    const select = $("close-disposition");
    const disposition = select.value;
    const note = $("close-note").value.trim();
    if (select.required && !disposition) {
      showDialogError("close-error", { message: "Choose how the conversation ended." });
      select.focus();
      return;
    }
    const body = {};
    if (disposition) body.disposition = disposition;
    if (note) body.note = note;
    const submit = $("close-submit");
    submit.disabled = true;
    stopAgentTyping();
    try {
      await api("POST", "/conversations/" + enc(id) + "/close", body);
      $("close-dialog").close();
      showNotice("Conversation closed.");
      state.drafts.delete(id);
      refreshMine();
      refreshQueue();
      if (state.openId === id) await refreshOpen();
    } catch (err) {
      showDialogError("close-error", err, "Could not close the conversation.");
    } finally {
      submit.disabled = false;
    }
  }

  // ------------------------------------------------------------------ canned responses: management

  async function openCannedDialog() {
    if (!canManageCanned()) return;
    if (!state.workspace) await loadWorkspace();
    const team = $("canned-team");
    team.replaceChildren(h("option", { value: "" }, "Every team"),
      ...workspaceTeams().map((t) => h("option", { value: t.name }, String(t.name))));
    resetCannedForm();
    showDialog($("canned-dialog"), $("canned-filter"));
    await loadManagedCanned();
  }

  async function loadManagedCanned() {
    try {
      const data = await api("GET", "/canned-responses");
      state.manage.items = (data && data.items) || [];
      renderManagedCanned();
    } catch (err) {
      showDialogError("canned-error", err, "Could not load canned responses.");
    }
  }

  function renderManagedCanned() {
    const filter = $("canned-filter").value.trim().toLowerCase();
    const items = state.manage.items.filter((item) => !filter ||
      [item.shortcut, item.title, item.text, item.team].some((v) => String(v || "").toLowerCase().includes(filter)));
    $("canned-manage-list").replaceChildren(...items.map((item) => {
      const edit = h("button", { type: "button", class: "btn btn-small", "aria-label": "Edit /" + item.shortcut }, "Edit");
      edit.addEventListener("click", () => editCanned(item));
      const armed = state.manage.deleteArmed === item.id;
      const del = h("button", { type: "button", class: armed ? "btn btn-small btn-danger-solid" : "btn btn-small btn-danger", "aria-label": (armed ? "Confirm delete /" : "Delete /") + item.shortcut }, armed ? "Confirm" : "Delete");
      del.addEventListener("click", () => deleteCanned(item));
      return h("li", { class: "manage-item" + (state.manage.editing === item.id ? " editing" : ""), "data-canned-id": item.id }, [
        h("div", { class: "manage-main" }, [
          h("span", { class: "canned-line" }, [
            h("span", { class: "canned-shortcut" }, "/" + String(item.shortcut)),
            h("span", { class: "canned-title", dir: "auto" }, String(item.title || "")),
            teamBadge(item.team),
          ]),
          h("span", { class: "canned-preview", dir: "auto" }, String(item.text || "").replace(/\s+/g, " ").slice(0, 120)),
        ]),
        h("div", { class: "manage-actions" }, [edit, del]),
      ]);
    }));
    $("canned-manage-empty").hidden = items.length > 0;
  }

  function resetCannedForm() {
    state.manage.editing = null;
    $("canned-form-title").textContent = "New canned response";
    $("canned-shortcut").value = "";
    $("canned-title-input").value = "";
    $("canned-text").value = "";
    $("canned-team").value = "";
    $("canned-save").textContent = "Create";
    showDialogError("canned-error", null);
  }

  function editCanned(item) {
    state.manage.editing = item.id;
    $("canned-form-title").textContent = "Edit /" + item.shortcut;
    $("canned-shortcut").value = item.shortcut || "";
    $("canned-title-input").value = item.title || "";
    $("canned-text").value = item.text || "";
    $("canned-team").value = item.team || "";
    $("canned-save").textContent = "Save changes";
    showDialogError("canned-error", null);
    renderManagedCanned();
    $("canned-title-input").focus();
  }

  async function onCannedSave(event) {
    event.preventDefault();
    const body = {
      shortcut: $("canned-shortcut").value.trim().replace(/^\//, ""),
      title: $("canned-title-input").value.trim(),
      text: $("canned-text").value.trim(),
      team: $("canned-team").value || null,
    };
    for (const [field, id] of [["shortcut", "canned-shortcut"], ["title", "canned-title-input"], ["text", "canned-text"]]) {
      if (!body[field]) {
        showDialogError("canned-error", { message: "The " + field + " is required." });
        $(id).focus();
        return;
      }
    }
    const editing = state.manage.editing;
    const save = $("canned-save");
    save.disabled = true;
    try {
      const item = editing == null
        ? await api("POST", "/canned-responses", body)
        : await api("PATCH", "/canned-responses/" + enc(editing), body);
      showNotice(editing == null ? "Canned response /" + item.shortcut + " created." : "Canned response /" + item.shortcut + " saved.");
      resetCannedForm();
      await loadManagedCanned();
      $("canned-shortcut").focus();
    } catch (err) {
      showDialogError("canned-error", err, "Could not save the canned response.");
    } finally {
      save.disabled = false;
    }
  }

  /** Delete asks twice: the first click arms the button for a few seconds. */
  async function deleteCanned(item) {
    const m = state.manage;
    clearTimeout(m.deleteTimer);
    if (m.deleteArmed !== item.id) {
      m.deleteArmed = item.id;
      renderManagedCanned();
      focusManageButton(item.id, "Confirm");
      m.deleteTimer = setTimeout(() => {
        m.deleteArmed = null;
        if ($("canned-dialog").open) renderManagedCanned();
      }, 4000);
      return;
    }
    m.deleteArmed = null;
    try {
      await api("DELETE", "/canned-responses/" + enc(item.id));
      showNotice("Canned response /" + item.shortcut + " deleted.");
      if (m.editing === item.id) resetCannedForm();
      await loadManagedCanned();
      $("canned-filter").focus();
    } catch (err) {
      showDialogError("canned-error", err, "Could not delete the canned response.");
      renderManagedCanned();
    }
  }

  function focusManageButton(id, label) {
    const row = $("canned-manage-list").querySelector('[data-canned-id="' + String(Number(id)) + '"]');
    const button = row && Array.from(row.querySelectorAll("button")).find((b) => b.textContent === label);
    if (button) button.focus();
  }

  // ------------------------------------------------------------------ help

  function openHelp() {
    showDialog($("help-dialog"));
  }

  // ================================================================== supervisor view

  const VIEW_TABS = {
    conversations: "tab-conversations", supervisor: "tab-supervisor", reports: "tab-reports", kb: "tab-kb",
  };
  const SUPERVISOR_VIEWS = ["supervisor", "reports"];
  // Views whose code lives in its own file (reports.js) register {enter, reset} here.
  const viewHooks = {};

  function setView(view) {
    let next = VIEW_TABS[view] ? view : "conversations";
    if (SUPERVISOR_VIEWS.includes(next) && !isSupervisor()) next = "conversations";
    state.view = next;
    $("app").dataset.view = next;
    $("supervisor-view").hidden = next !== "supervisor";
    $("reports-view").hidden = next !== "reports";
    $("kb-view").hidden = next !== "kb";
    $("workspace-view").hidden = next !== "conversations";
    document.querySelector(".centre").hidden = next !== "conversations";
    for (const [name, id] of Object.entries(VIEW_TABS)) {
      const tab = $(id);
      tab.setAttribute("aria-selected", name === next ? "true" : "false");
      tab.tabIndex = name === next ? 0 : -1;
    }
    renderCustomerPanelVisibility();
    if (next !== "conversations") closeCannedPicker();
    if (next === "supervisor" && (state.supervisor.stale || !state.supervisor.data)) scheduleSupervisorRefresh(true);
    if (next === "kb") enterKb();
    if (viewHooks[next] && viewHooks[next].enter) viewHooks[next].enter();
  }

  /** The tab list's arrow keys (WAI-ARIA tabs): left/right wrap, Home/End go to the ends. */
  function onTabKeydown(event) {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight" && event.key !== "Home" && event.key !== "End") return;
    const tabs = Object.values(VIEW_TABS).map($).filter((t) => !t.hidden);
    if (tabs.length < 2) return;
    event.preventDefault();
    const at = tabs.indexOf(event.currentTarget);
    const index = {
      ArrowRight: (at + 1) % tabs.length,
      ArrowLeft: (at - 1 + tabs.length) % tabs.length,
      Home: 0,
      End: tabs.length - 1,
    }[event.key];
    const next = tabs[index];
    setView(Object.keys(VIEW_TABS).find((name) => VIEW_TABS[name] === next.id));
    next.focus();
  }

  const fetchSupervisor = coalesced(async () => {
    const data = await api("GET", "/supervisor");
    state.supervisor.data = data;
    state.supervisor.stale = false;
    state.supervisor.lastAt = Date.now();
    if (data && data.figures && data.figures.agents_online != null) {
      state.agentsOnline = data.figures.agents_online;
      renderAgentsOnline();
    }
    renderSupervisor(data || {});
  }, true);

  /**
   * Live events ask for a refresh; they arrive in bursts, so the view refreshes at most about
   * once a second. Hidden: just remember it is stale and refresh when the tab is opened.
   */
  function scheduleSupervisorRefresh(now) {
    const s = state.supervisor;
    if (!isSupervisor()) return;
    if (state.view !== "supervisor") {
      s.stale = true;
      return;
    }
    if (s.timer) return;
    const wait = now ? 0 : Math.max(0, SUPERVISOR_MIN_GAP_MS - (Date.now() - s.lastAt));
    s.timer = setTimeout(() => {
      s.timer = null;
      s.lastAt = Date.now();
      fetchSupervisor().then(() => {
        if (!state.supervisor.data) $("sup-updated").textContent = "Could not load the figures.";
      });
    }, wait);
  }

  function renderSupervisor(data) {
    const f = data.figures || {};
    const tile = (key, label, value, hint, tone) => h("div", { class: "tile" + (tone ? " tile-" + tone : ""), "data-figure": key }, [
      h("span", { class: "tile-value" }, value),
      h("span", { class: "tile-label" }, label),
      hint ? h("span", { class: "tile-hint" }, hint) : null,
    ]);
    const csat = f.csat_average == null ? "—" : Number(f.csat_average).toFixed(1) + " / 5";
    const breached = ((data.sla && data.sla.breached) || []).length;
    $("sup-figures").replaceChildren(
      tile("waiting", "Waiting", String(f.waiting ?? 0), null, f.waiting > 0 ? "warn" : null),
      tile("assigned", "Assigned", String(f.assigned ?? 0)),
      tile("agents_online", "Agents online", String(f.agents_online ?? 0), null, f.waiting > 0 && !f.agents_online ? "bad" : null),
      tile("closed_today", "Closed today", String(f.closed_today ?? 0)),
      tile("median_first_response_seconds", "Median first reply", formatDuration(f.median_first_response_seconds)),
      tile("csat_average", "CSAT", csat, (f.csat_count ?? 0) + (f.csat_count === 1 ? " answer" : " answers")),
      tile("sla_breached", "SLA breached", String(breached), null, breached ? "bad" : null),
    );

    const teams = data.teams || [];
    $("sup-teams").tBodies[0].replaceChildren(...teams.map((team) => h("tr", { "data-team": team.name || "" }, [
      h("th", { scope: "row" }, team.name ? String(team.name) : h("span", { class: "muted" }, "No team")),
      h("td", null, humanize(team.mode)),
      h("td", { class: "num" + (team.waiting > 0 ? " warn-text" : "") }, String(team.waiting ?? 0)),
      h("td", { class: "num" }, team.longest_wait_seconds ? formatDuration(team.longest_wait_seconds) : "—"),
      h("td", { class: "num" + (team.waiting > 0 && !team.agents_online ? " bad-text" : "") }, String(team.agents_online ?? 0)),
    ])));
    $("sup-teams-empty").hidden = teams.length > 0;

    const agents = (data.agents || []).slice().sort((a, b) => {
      const order = { online: 0, away: 1, offline: 2 };
      return (order[a.presence] ?? 3) - (order[b.presence] ?? 3) || String(a.name).localeCompare(String(b.name));
    });
    $("sup-agents").tBodies[0].replaceChildren(...agents.map((agent) => {
      const presence = PRESENCE_LABELS[agent.presence] ? agent.presence : "offline";
      const load = agent.load || {};
      const capacity = agent.capacity || {};
      const loads = ["chat", "message", "call"].filter((k) => capacity[k] || load[k]).map((k) => {
        const full = capacity[k] && (load[k] || 0) >= capacity[k];
        return h("span", { class: "load" + (full ? " load-full" : "") }, k + " " + (load[k] || 0) + "/" + (capacity[k] ?? "—"));
      });
      return h("tr", { "data-agent-id": agent.id }, [
        h("th", { scope: "row", dir: "auto" }, [String(agent.name), agent.role && agent.role !== "agent" ? h("span", { class: "muted" }, " · " + humanize(agent.role)) : null]),
        h("td", null, h("span", { class: "presence-pill", "data-presence": presence }, PRESENCE_LABELS[presence])),
        h("td", null, (agent.teams || []).length ? agent.teams.join(", ") : h("span", { class: "muted" }, "all")),
        h("td", null, h("div", { class: "loads" }, loads)),
        h("td", { class: "num" }, String(agent.assigned ?? 0)),
      ]);
    }));

    const sla = data.sla || {};
    for (const [key, listId, countId] of [["breached", "sup-breached", "sup-breached-count"], ["at_risk", "sup-at-risk", "sup-at-risk-count"]]) {
      const items = sla[key] || [];
      $(countId).textContent = String(items.length);
      $(listId).replaceChildren(...(items.length ? items.map(supervisorConvRow) : [h("li", { class: "list-empty" }, "None")]));
    }
    $("sup-updated").textContent = "Updated " + clockFormat.format(new Date());
  }

  function supervisorConvRow(conv) {
    const button = h("button", { type: "button", class: "sup-conv", "data-conversation-id": conv.id }, [
      h("span", { class: "row-name", dir: "auto" }, customerName(conv)),
      segmentBadge(conv.customer && conv.customer.segment),
      teamBadge(conv.team),
      slaBadge(conv.sla, false),
      h("span", { class: "muted" }, conv.assignee ? conv.assignee.name || "assigned" : conv.status),
    ]);
    button.addEventListener("click", () => openConversation(conv.id));
    return h("li", null, button);
  }

  // ================================================================== knowledge base

  const KB_PAGE = 20;
  const KB_SEARCH_DEBOUNCE_MS = 250;
  const KB_PREVIEW_DEBOUNCE_MS = 300;
  const KB_GAPS_DAYS = 30;
  const KB_STATUS_LABELS = { draft: "Draft", in_review: "In review", published: "Published", archived: "Archived" };
  // The workflow buttons, in the order shown; "edit" and "rollback" have their own controls.
  const KB_ACTIONS = {
    submit: { label: "Submit for review", done: "Submitted for review." },
    publish: { label: "Publish", done: "Published: the bot answers from this version now.", primary: true },
    reject: { label: "Send back…", done: "Sent back to the author as a draft." },
    archive: { label: "Archive…", done: "Archived: the bot no longer uses it.", danger: true },
    restore: { label: "Restore", done: "Restored as a draft." },
  };
  const KB_IMPORT_FORMATS = { yaml: "yaml", yml: "yaml", json: "json", csv: "csv" };
  const KB_IMPORT_TYPES = { yaml: "application/yaml", json: "application/json", csv: "text/csv" };

  function articlePath(id, locale, rest) {
    return "/kb/articles/" + enc(id) + "/" + enc(locale) + (rest || "");
  }

  function kbStatusBadge(status) {
    return h("span", { class: "badge kb-status", "data-status": status }, KB_STATUS_LABELS[status] || humanize(status));
  }

  /** "👍 12 · 👎 3 (80%)"; null before any customer rated an answer from the article. */
  function helpfulnessText(item) {
    const up = Number(item.helpful) || 0;
    const down = Number(item.unhelpful) || 0;
    if (!up && !down) return null;
    const share = item.helpfulness == null ? "" : " (" + Math.round(Number(item.helpfulness) * 100) + "%)";
    return "👍 " + up + " · 👎 " + down + share;
  }

  function lines(text) {
    return String(text || "").split("\n").map((line) => line.trim()).filter(Boolean);
  }

  function commaList(text) {
    return String(text || "").split(",").map((item) => item.trim()).filter(Boolean);
  }

  /** Entering the view: the first time loads everything, later visits refresh the list. */
  function enterKb() {
    const kb = state.kb;
    if (!kb.loaded) {
      kb.loaded = true;
      setKbSection(kb.section);
      loadKbFacets();
    }
    loadKbList();
    if (kb.section === "gaps" && !kb.gapsLoaded) loadGaps();
  }

  /** Signing out: nothing of the last user's stays on the page. */
  function resetKb() {
    const kb = state.kb;
    clearTimeout(kb.searchTimer);
    clearTimeout(kb.previewTimer);
    state.kb = newKbState();
    $("kb-q").value = "";
    for (const id of ["kb-filter-status", "kb-filter-category", "kb-filter-tag", "kb-filter-locale"]) $(id).value = "";
    $("kb-list").replaceChildren();
    $("kb-gaps-table").tBodies[0].replaceChildren();
    $("kb-gaps-summary").textContent = "";
    $("kb-import-result").hidden = true;
    closeKbEditor();
    setKbSection("articles");
  }

  function setKbSection(section) {
    const gaps = section === "gaps";
    state.kb.section = gaps ? "gaps" : "articles";
    $("kb-articles").hidden = gaps;
    $("kb-gaps").hidden = !gaps;
    $("kb-show-articles").setAttribute("aria-pressed", gaps ? "false" : "true");
    $("kb-show-gaps").setAttribute("aria-pressed", gaps ? "true" : "false");
    if (gaps && state.view === "kb" && !state.kb.gapsLoaded) loadGaps();
  }

  // ------------------------------------------------------------------ list, search and filters

  async function loadKbFacets() {
    try {
      const facets = (await api("GET", "/kb/facets")) || {};
      state.kb.facets = facets;
      renderKbFacets(facets);
    } catch (err) {
      report(err, "Could not load the categories and tags.");
    }
  }

  function renderKbFacets(facets) {
    const fill = (id, counts, allLabel) => {
      const select = $(id);
      const keep = select.value;
      const names = Object.keys(counts || {}).sort((a, b) => a.localeCompare(b));
      if (keep && !names.includes(keep)) names.unshift(keep);
      select.replaceChildren(
        h("option", { value: "" }, allLabel),
        ...names.map((name) => h("option", { value: name }, counts && counts[name] != null ? name + " (" + counts[name] + ")" : name)),
      );
      select.value = keep;
    };
    fill("kb-filter-category", facets.categories, "All categories");
    fill("kb-filter-tag", facets.tags, "All tags");
    fill("kb-filter-locale", facets.locales, "All languages");
    fill("kb-gaps-locale", facets.locales, "All");
    $("kb-category-options").replaceChildren(...Object.keys(facets.categories || {}).sort().map((name) => h("option", { value: name })));
  }

  function kbQuery() {
    const params = new URLSearchParams();
    const q = $("kb-q").value.trim();
    if (q) params.set("q", q);
    for (const [name, id] of [["status", "kb-filter-status"], ["category", "kb-filter-category"], ["tag", "kb-filter-tag"], ["locale", "kb-filter-locale"]]) {
      if ($(id).value) params.set(name, $(id).value);
    }
    params.set("limit", String(KB_PAGE));
    params.set("offset", String(state.kb.offset));
    return params.toString();
  }

  /** Loads the current page; an answer to an older search is dropped. */
  async function loadKbList() {
    const seq = ++state.kb.listSeq;
    try {
      const data = (await api("GET", "/kb/articles?" + kbQuery())) || {};
      if (seq !== state.kb.listSeq) return;
      state.kb.items = data.items || [];
      state.kb.total = Number(data.total) || 0;
      if (!state.kb.items.length && state.kb.offset > 0 && state.kb.total > 0) {
        state.kb.offset = Math.max(0, Math.floor((state.kb.total - 1) / KB_PAGE) * KB_PAGE);
        loadKbList();
        return;
      }
      renderKbList();
    } catch (err) {
      if (seq === state.kb.listSeq) report(err, "Could not load the articles.");
    }
  }

  function onKbFilterChange() {
    state.kb.offset = 0;
    clearTimeout(state.kb.searchTimer);
    loadKbList();
  }

  function onKbSearchInput() {
    clearTimeout(state.kb.searchTimer);
    state.kb.searchTimer = setTimeout(onKbFilterChange, KB_SEARCH_DEBOUNCE_MS);
  }

  function renderKbList() {
    const kb = state.kb;
    $("kb-list").replaceChildren(...kb.items.map(kbRow));
    $("kb-empty").hidden = kb.items.length > 0;
    const first = kb.items.length ? kb.offset + 1 : 0;
    const last = kb.offset + kb.items.length;
    $("kb-page").textContent = kb.total ? first + "–" + last + " of " + kb.total : "";
    $("kb-prev").disabled = kb.offset === 0;
    $("kb-next").disabled = last >= kb.total;
  }

  function isOpenArticle(item) {
    const open = state.kb.article;
    return !!open && open.id === item.id && open.locale === item.locale;
  }

  function kbRow(item) {
    const helpfulness = helpfulnessText(item);
    const live = item.published_version && item.published_version !== item.version
      ? h("span", { class: "kb-live", title: "Customers get version " + item.published_version }, "live v" + item.published_version)
      : null;
    const button = h("button", {
      type: "button",
      class: "row-main",
      "aria-current": isOpenArticle(item) ? "true" : null,
    }, [
      h("span", { class: "row-top" }, [
        h("span", { class: "row-name kb-row-title", dir: "auto" }, String(item.title || item.id)),
        h("span", { class: "badge kb-locale", title: "Language" }, String(item.locale)),
      ]),
      h("span", { class: "row-tags" }, [
        kbStatusBadge(item.status),
        h("span", { class: "kb-version" }, "v" + item.version),
        live,
        item.category ? h("span", { class: "kb-category", dir: "auto" }, String(item.category)) : null,
        helpfulness ? h("span", { class: "kb-helpfulness", title: "Customers' ratings of the bot's answers from it" }, helpfulness) : null,
      ]),
    ]);
    button.addEventListener("click", () => openKbArticle(item.id, item.locale));
    return h("li", {
      class: "conv-item kb-item" + (isOpenArticle(item) ? " selected" : ""),
      "data-article-id": item.id,
      "data-locale": item.locale,
      "data-status": item.status,
    }, button);
  }

  function markKbSelection() {
    for (const row of $("kb-list").children) {
      const on = isOpenArticle({ id: row.dataset.articleId, locale: row.dataset.locale });
      row.classList.toggle("selected", on);
      row.firstElementChild.setAttribute("aria-current", on ? "true" : "false");
    }
  }

  /** After a change: the list (statuses, versions) and the facets (new tags) move with it. */
  function refreshKbAround() {
    loadKbList();
    loadKbFacets();
  }

  // ------------------------------------------------------------------ the editor

  /** Unsaved edits are only dropped when the author says so. */
  async function kbMayLeave() {
    if (!state.kb.dirty) return true;
    const answer = await kbAsk({
      title: "Discard your changes?",
      text: "The article has changes that are not saved yet.",
      confirm: "Discard changes",
      danger: true,
    });
    return answer !== null;
  }

  async function openKbArticle(id, locale, options) {
    const opts = options || {};
    if (!opts.force && !(await kbMayLeave())) return;
    const seq = ++state.kb.loadSeq;
    try {
      const article = await api("GET", articlePath(id, locale));
      if (seq !== state.kb.loadSeq) return;
      showKbArticle(article);
      if (opts.focus !== false) $("kb-title").focus();
    } catch (err) {
      if (seq === state.kb.loadSeq) report(err, "Could not open the article.");
    }
  }

  function closeKbEditor() {
    announceKbArticle(null);
    state.kb.article = null;
    state.kb.editing = false;
    state.kb.dirty = false;
    $("kb-form").hidden = true;
    $("kb-record").hidden = true;
    $("kb-placeholder").hidden = false;
  }

  function setKbDirty(on) {
    state.kb.dirty = on;
    $("kb-dirty").hidden = !on;
  }

  function showKbEditor() {
    state.kb.editing = true;
    $("kb-placeholder").hidden = true;
    $("kb-form").hidden = false;
    showKbError(null);
    setKbDirty(false);
  }

  /** A blank draft, or one prefilled (from a knowledge gap). */
  async function newKbArticle() {
    if (!(await kbMayLeave())) return;
    state.kb.loadSeq++;
    state.kb.article = null;
    showKbEditor();
    markKbSelection();
    announceKbArticle(null);
    $("kb-heading").textContent = "New article";
    $("kb-badges").replaceChildren(kbStatusBadge("draft"));
    $("kb-meta").textContent = "A draft until it is published; the bot does not use it before then.";
    $("kb-variants").replaceChildren();
    $("kb-published").hidden = true;
    $("kb-locale-field").hidden = false;
    const locales = Object.keys((state.kb.facets && state.kb.facets.locales) || {});
    $("kb-locale").value = $("kb-filter-locale").value || (locales.includes("en") ? "en" : locales[0] || "en");
    fillKbFields({ title: "", category: "", tags: [], questions: [], body: "" }, true);
    setKbPreview("");
    $("kb-save").textContent = "Create draft";
    $("kb-save").hidden = false;
    $("kb-workflow").replaceChildren();
    $("kb-record").hidden = true;
    $("kb-title").focus();
  }

  function fillKbFields(content, editable) {
    $("kb-title").value = content.title || "";
    $("kb-category").value = content.category || "";
    $("kb-tags").value = (content.tags || []).join(", ");
    $("kb-questions").value = (content.questions || []).join("\n");
    $("kb-body").value = content.body || "";
    for (const id of ["kb-title", "kb-category", "kb-tags", "kb-questions", "kb-body"]) $(id).readOnly = !editable;
  }

  function kbFormContent() {
    return {
      title: $("kb-title").value.trim(),
      category: $("kb-category").value.trim() || null,
      tags: commaList($("kb-tags").value),
      questions: lines($("kb-questions").value),
      body: $("kb-body").value,
    };
  }

  /** The sanitised HTML the server rendered: the only HTML this view puts on the page. */
  function setKbPreview(html) {
    const preview = $("kb-preview");
    if (html) preview.innerHTML = html;
    else preview.replaceChildren(h("span", { class: "muted" }, "Nothing to preview yet."));
  }

  function showKbArticle(article) {
    const kb = state.kb;
    kb.article = article;
    showKbEditor();
    markKbSelection();
    const actions = article.actions || [];
    const editable = actions.includes("edit");
    $("kb-heading").textContent = article.title || article.id;
    const helpfulness = helpfulnessText(article);
    // replaceChildren writes a null as the text "null": leave the missing ones out.
    $("kb-badges").replaceChildren(...[
      kbStatusBadge(article.status),
      h("span", { class: "badge kb-locale" }, String(article.locale)),
      h("span", { class: "badge kb-version-badge" }, "Version " + article.version),
      helpfulness ? h("span", { class: "badge kb-helpfulness" }, helpfulness) : null,
    ].filter(Boolean));
    $("kb-meta").replaceChildren(...[
      h("span", { class: "reference" }, String(article.id)),
      h("span", null, article.published_version ? "Live: version " + article.published_version : "Not live: the bot does not use it"),
      article.updated_by ? h("span", null, "Saved by " + article.updated_by + " " + formatClock(article.updated_at)) : null,
      article.status_changed_by && article.status_changed_at
        ? h("span", null, (KB_STATUS_LABELS[article.status] || article.status) + " by " + article.status_changed_by + " " + formatClock(article.status_changed_at))
        : null,
    ].filter(Boolean));
    renderKbVariants(article);
    renderKbPublished(article);
    $("kb-locale-field").hidden = true;
    fillKbFields(article, editable);
    setKbPreview(article.body_html);
    $("kb-save").textContent = "Save";
    $("kb-save").hidden = !editable;
    renderKbWorkflow(actions);
    renderKbHistory(article.history || []);
    renderKbUnhelpful(article.unhelpful_questions || []);
    $("kb-diff").hidden = true;
    $("kb-record").hidden = false;
    loadKbVersions();
    announceKbArticle(article);
  }

  // Files that add to the editor (kb_try.js) hear which article is open (null: none).
  const kbArticleHooks = [];

  function announceKbArticle(article) {
    for (const hook of kbArticleHooks) hook(article);
  }

  function renderKbVariants(article) {
    const buttons = (article.variants || []).map((variant) => {
      const current = variant.locale === article.locale;
      const button = h("button", {
        type: "button",
        class: "kb-variant",
        "aria-pressed": current ? "true" : "false",
        "data-locale": variant.locale,
        "data-status": variant.status,
        title: (variant.title || "") + " · " + (KB_STATUS_LABELS[variant.status] || variant.status),
      }, String(variant.locale));
      if (!current) button.addEventListener("click", () => openKbArticle(article.id, variant.locale));
      return button;
    });
    const add = h("button", { type: "button", id: "kb-add-translation", class: "btn btn-small btn-ghost-dark" }, "+ Add translation");
    add.addEventListener("click", addKbTranslation);
    $("kb-variants").replaceChildren(h("span", { class: "kb-label" }, "Languages"), ...buttons, add);
  }

  /** When the working copy is not what customers get, say so and show what they do get. */
  function renderKbPublished(article) {
    const live = article.published;
    $("kb-published").hidden = !live;
    if (!live) return;
    $("kb-published-text").textContent = "Customers still get version " + live.version +
      " (the published one) until this version " + article.version + " is published.";
    $("kb-published-title").textContent = live.title || "";
    $("kb-published-body").innerHTML = live.body_html || ""; // sanitised by the server
  }

  function renderKbWorkflow(actions) {
    const buttons = Object.keys(KB_ACTIONS).filter((name) => actions.includes(name)).map((name) => {
      const spec = KB_ACTIONS[name];
      const button = h("button", {
        type: "button",
        class: "btn" + (spec.primary ? " btn-primary" : "") + (spec.danger ? " btn-danger" : ""),
        "data-action": name,
      }, spec.label);
      button.addEventListener("click", () => runKbAction(name));
      return button;
    });
    $("kb-workflow").replaceChildren(...buttons);
  }

  function showKbError(err, offerReload) {
    const box = $("kb-form-error");
    if (!err) {
      box.hidden = true;
      return;
    }
    if (err.status === 401) return;
    $("kb-form-error-text").textContent = err.message || "Something went wrong.";
    box.dataset.code = err.code || "";
    $("kb-reload").hidden = !offerReload;
    box.hidden = false;
  }

  function setKbBusy(on) {
    state.kb.busy = on;
    for (const button of $("kb-form").querySelectorAll("button")) button.disabled = on;
  }

  /** Creates the draft, or saves the changes as the next version (refused if it moved on). */
  async function saveKbArticle() {
    const kb = state.kb;
    if (kb.busy || !kb.editing) return null;
    const content = kbFormContent();
    if (!content.title || !content.body.trim()) {
      showKbError({ message: "An article needs a title and an answer." });
      (content.title ? $("kb-body") : $("kb-title")).focus();
      return null;
    }
    const article = kb.article;
    setKbBusy(true);
    showKbError(null);
    try {
      let saved;
      if (!article) {
        saved = await api("POST", "/kb/articles", Object.assign({ locale: $("kb-locale").value.trim() }, content));
        showNotice("Draft created. Submit it for review when it is ready.");
      } else {
        saved = await api("PATCH", articlePath(article.id, article.locale), Object.assign({ base_version: article.version }, content));
        showNotice(saved.version === article.version ? "Nothing changed." : "Saved as version " + saved.version + ".");
      }
      showKbArticle(saved);
      refreshKbAround();
      return saved;
    } catch (err) {
      showKbError(err, err.code === "stale_version");
      return null;
    } finally {
      setKbBusy(false);
    }
  }

  async function reloadKbArticle() {
    const article = state.kb.article;
    if (article) await openKbArticle(article.id, article.locale, { force: true });
  }

  /** A workflow step. Unsaved edits are saved first: what is published is what is on screen. */
  async function runKbAction(name) {
    const article = state.kb.article;
    if (!article || state.kb.busy) return;
    const spec = KB_ACTIONS[name];
    const send = async (comment) => {
      const body = comment ? { comment } : undefined;
      const current = state.kb.article;
      const updated = await api("POST", articlePath(current.id, current.locale, "/" + name), body);
      showKbArticle(updated);
      refreshKbAround();
      showNotice(spec.done);
    };
    if (state.kb.dirty && !(await saveKbArticle())) return;
    if (name === "reject" || name === "archive") {
      await kbAsk({
        title: name === "reject" ? "Send back to the author" : "Archive this article",
        text: name === "reject"
          ? "The article goes back to draft. Say what needs to change."
          : "The bot stops answering from it. It can be restored later.",
        fields: [{ name: "comment", label: name === "reject" ? "Why" : "Comment (optional)", multiline: true, required: name === "reject" }],
        confirm: name === "reject" ? "Send back" : "Archive",
        danger: name === "archive",
        run: (values) => send(values.comment),
      });
      return;
    }
    setKbBusy(true);
    try {
      await send();
    } catch (err) {
      showKbError(err);
    } finally {
      setKbBusy(false);
    }
  }

  /** A new locale of the same article: starts as a copy to translate, as a draft. */
  async function addKbTranslation() {
    const article = state.kb.article;
    if (!article || !(await kbMayLeave())) return;
    const taken = (article.variants || []).map((v) => v.locale);
    await kbAsk({
      title: "Add a translation",
      text: "A draft copy of this article in another language, to translate and publish.",
      fields: [
        { name: "locale", label: "Language (a tag like th, zh or pt-BR)", required: true },
        { name: "title", label: "Title", required: true, value: article.title },
      ],
      confirm: "Create draft",
      run: async (values) => {
        if (taken.includes(values.locale)) throw new ApiError(409, "article_exists", "This article already has a " + values.locale + " version.");
        const created = await api("POST", "/kb/articles", {
          id: article.id,
          locale: values.locale,
          title: values.title,
          body: article.body,
          questions: article.questions || [],
          tags: article.tags || [],
          category: article.category || null,
        });
        showKbArticle(created);
        refreshKbAround();
        showNotice("Translation draft created: translate the answer and save.");
      },
    });
  }

  function onKbFieldInput(event) {
    if (!state.kb.editing || event.target.readOnly) return;
    setKbDirty(true);
    if (event.target.id === "kb-body") {
      clearTimeout(state.kb.previewTimer);
      state.kb.previewTimer = setTimeout(runKbPreview, KB_PREVIEW_DEBOUNCE_MS);
    }
  }

  /** The body as the server renders it (the same sanitiser customers' answers go through). */
  async function runKbPreview() {
    const seq = ++state.kb.previewSeq;
    const body = $("kb-body").value;
    if (!body.trim()) {
      setKbPreview("");
      return;
    }
    try {
      const data = await api("POST", "/kb/preview", { body });
      if (seq === state.kb.previewSeq) setKbPreview(data && data.html);
    } catch (err) {
      if (seq === state.kb.previewSeq) report(err, "Could not render the preview.");
    }
  }

  // ------------------------------------------------------------------ versions, diff, rollback, history

  async function loadKbVersions() {
    const article = state.kb.article;
    if (!article) return;
    try {
      const data = await api("GET", articlePath(article.id, article.locale, "/versions"));
      if (state.kb.article !== article) return;
      renderKbVersions(article, data || {});
    } catch (err) {
      report(err, "Could not load the versions.");
    }
  }

  function renderKbVersions(article, data) {
    const current = Number(data.current) || article.version;
    const canRollback = (article.actions || []).includes("rollback");
    $("kb-versions").replaceChildren(...(data.items || []).map((item) => {
      const v = item.version;
      const compare = v < current ? [v, current] : v > 1 ? [v - 1, v] : null;
      const buttons = [];
      if (compare) {
        const button = h("button", {
          type: "button",
          class: "btn btn-small",
          "data-compare": "true",
          title: "Version " + compare[0] + " → version " + compare[1],
        }, v < current ? "Compare with current" : "Compare with previous");
        button.addEventListener("click", () => showKbDiff(compare[0], compare[1]));
        buttons.push(button);
      }
      if (canRollback && v !== current) {
        const button = h("button", { type: "button", class: "btn btn-small", "data-rollback": "true" }, "Roll back to this");
        button.addEventListener("click", () => rollbackKb(v));
        buttons.push(button);
      }
      return h("li", { class: "kb-version-item", "data-version": v }, [
        h("div", { class: "kb-version-line" }, [
          h("strong", null, "Version " + v),
          v === current ? h("span", { class: "badge kb-tag-current" }, "current") : null,
          v === data.published_version ? h("span", { class: "badge kb-tag-live" }, "live") : null,
          h("span", { class: "muted" }, [item.created_by || "", " · ", formatClock(item.created_at)]),
        ]),
        h("div", { class: "kb-version-title", dir: "auto" }, [String(item.title || ""), item.note ? h("span", { class: "muted" }, " — " + item.note) : null]),
        buttons.length ? h("div", { class: "kb-version-actions" }, buttons) : null,
      ]);
    }));
  }

  async function showKbDiff(from, to) {
    const article = state.kb.article;
    if (!article) return;
    const seq = ++state.kb.diffSeq;
    try {
      const data = await api("GET", articlePath(article.id, article.locale, "/diff?from=" + from + "&to=" + to));
      if (seq !== state.kb.diffSeq || state.kb.article !== article) return;
      renderKbDiff(data || {});
    } catch (err) {
      report(err, "Could not compare the versions.");
    }
  }

  /** Each changed field: text as a unified diff (+ green, − red), lists as added / removed items. */
  function renderKbDiff(data) {
    const changes = data.changes || [];
    $("kb-diff-title").textContent = "Version " + data.from + " → version " + data.to;
    const blocks = changes.map((change) => {
      const field = h("h5", { class: "kb-diff-field" }, humanize(change.field));
      if (change.diff !== undefined) {
        const rows = String(change.diff).split("\n")
          .filter((line) => !line.startsWith("--- ") && !line.startsWith("+++ "))
          .map((line) => {
            const kind = line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "same";
            return h("span", { class: "diff-line diff-" + kind }, line || " ");
          });
        return h("div", { class: "kb-diff-change", "data-field": change.field }, [field, h("pre", { class: "kb-diff-text", dir: "auto" }, rows)]);
      }
      const items = [
        ...(change.added || []).map((item) => h("li", { class: "diff-line diff-add" }, "+ " + item)),
        ...(change.removed || []).map((item) => h("li", { class: "diff-line diff-del" }, "− " + item)),
      ];
      return h("div", { class: "kb-diff-change", "data-field": change.field }, [field, h("ul", { class: "kb-diff-items", dir: "auto" }, items)]);
    });
    $("kb-diff-body").replaceChildren(...(blocks.length ? blocks : [h("p", { class: "muted" }, "No differences.")]));
    $("kb-diff").hidden = false;
    $("kb-diff").scrollIntoView({ block: "nearest" });
  }

  async function rollbackKb(version) {
    const article = state.kb.article;
    if (!article || !(await kbMayLeave())) return;
    await kbAsk({
      title: "Roll back to version " + version,
      text: "Version " + version + "'s content becomes a new version; nothing is lost." +
        (article.status === "published" ? " The article is published: customers get it at once." : ""),
      fields: [{ name: "comment", label: "Comment (optional)", multiline: true }],
      confirm: "Roll back",
      run: async (values) => {
        const body = values.comment ? { version, comment: values.comment } : { version };
        const updated = await api("POST", articlePath(article.id, article.locale, "/rollback"), body);
        showKbArticle(updated);
        refreshKbAround();
        showNotice("Rolled back to version " + version + ": now version " + updated.version + ".");
      },
    });
  }

  function renderKbHistory(history) {
    $("kb-history").replaceChildren(...(history.length ? history.map((event) => h("li", { class: "kb-history-item", "data-action": event.action }, [
      h("div", { class: "kb-history-line" }, [
        h("strong", null, humanize(event.action)),
        event.from && event.to && event.from !== event.to
          ? h("span", { class: "muted" }, (KB_STATUS_LABELS[event.from] || event.from) + " → " + (KB_STATUS_LABELS[event.to] || event.to))
          : null,
        event.version ? h("span", { class: "muted" }, "v" + event.version) : null,
        h("span", { class: "kb-history-who" }, String(event.actor || "")),
        h("span", { class: "entry-time" }, formatClock(event.at)),
      ]),
      event.comment ? h("p", { class: "kb-history-comment", dir: "auto" }, String(event.comment)) : null,
    ])) : [h("li", { class: "list-empty" }, "No history yet.")]));
  }

  /** The questions customers asked when they voted an answer from this article down. */
  function renderKbUnhelpful(votes) {
    $("kb-unhelpful").replaceChildren(...(votes.length ? votes.map((vote) => {
      const open = vote.conversation_id
        ? h("button", { type: "button", class: "link-button kb-gap-conv", title: "Open the conversation" }, "#" + vote.conversation_id)
        : null;
      if (open) open.addEventListener("click", () => openConversation(vote.conversation_id));
      return h("li", { class: "kb-history-item kb-unhelpful-item" }, [
        h("p", { class: "kb-history-comment", dir: "auto" }, vote.question ? String(vote.question) : "(question not recorded)"),
        h("div", { class: "kb-history-line" }, [
          h("span", { class: "muted" }, humanize(String(vote.channel || ""))),
          vote.version ? h("span", { class: "muted" }, "v" + vote.version) : null,
          open,
          h("span", { class: "entry-time" }, formatClock(vote.at)),
        ]),
      ]);
    }) : [h("li", { class: "list-empty" }, "No one has rated an answer from it not helpful.")]));
  }

  // ------------------------------------------------------------------ import and export

  async function exportKb(format) {
    try {
      const name = await download("/kb/export?format=" + enc(format), "knowledge-base." + format);
      showNotice("Exported " + name + ".");
    } catch (err) {
      report(err, "Could not export the articles.");
    }
  }

  function showKbImportResult(text, kind) {
    const result = $("kb-import-result");
    result.textContent = text;
    result.dataset.kind = kind;
    result.hidden = false;
  }

  /** The file goes as the request body; its extension names the format. */
  async function importKbFile(file) {
    const ext = String(file.name).split(".").pop().toLowerCase();
    const format = KB_IMPORT_FORMATS[ext];
    if (!format) {
      showKbImportResult("Choose a .yaml, .json or .csv file.", "error");
      return;
    }
    const button = $("kb-import");
    button.disabled = true;
    showKbImportResult("Importing " + file.name + "…", "info");
    try {
      const params = new URLSearchParams({ format, name: file.name });
      const counts = (await api("POST", "/kb/import?" + params, file, { contentType: KB_IMPORT_TYPES[format] })) || {};
      const n = Number(counts.articles) || 0;
      showKbImportResult("Imported " + file.name + ": " + n + (n === 1 ? " article" : " articles") + " — " +
        (counts.created || 0) + " new, " + (counts.updated || 0) + " updated, " + (counts.unchanged || 0) + " unchanged.", "ok");
      refreshKbAround();
      if (state.kb.article && !state.kb.dirty) openKbArticle(state.kb.article.id, state.kb.article.locale, { force: true, focus: false });
    } catch (err) {
      if (err.status !== 401) showKbImportResult("Import failed: " + err.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ knowledge gaps

  function isoDay(date) {
    return date.getFullYear() + "-" + String(date.getMonth() + 1).padStart(2, "0") + "-" + String(date.getDate()).padStart(2, "0");
  }

  /** The range as the agent sees it: local days, "To" included. */
  function gapsParams() {
    const params = new URLSearchParams();
    const since = $("kb-gaps-since").valueAsDate ? $("kb-gaps-since").value : "";
    const until = $("kb-gaps-until").valueAsDate ? $("kb-gaps-until").value : "";
    const local = (day, plus) => {
      const [y, m, d] = day.split("-").map(Number);
      return new Date(y, m - 1, d + plus).toISOString();
    };
    if (since) params.set("since", local(since, 0));
    if (until) params.set("until", local(until, 1));
    if ($("kb-gaps-locale").value) params.set("locale", $("kb-gaps-locale").value);
    return params;
  }

  function initGapsRange() {
    if ($("kb-gaps-until").value) return;
    const today = new Date();
    $("kb-gaps-until").value = isoDay(today);
    $("kb-gaps-since").value = isoDay(new Date(today.getFullYear(), today.getMonth(), today.getDate() - KB_GAPS_DAYS));
  }

  async function loadGaps() {
    initGapsRange();
    state.kb.gapsLoaded = true;
    const seq = ++state.kb.gapsSeq;
    $("kb-gaps-summary").textContent = "Loading…";
    try {
      const data = (await api("GET", "/kb/gaps?" + gapsParams())) || {};
      if (seq !== state.kb.gapsSeq) return;
      renderGaps(data);
    } catch (err) {
      if (seq !== state.kb.gapsSeq) return;
      $("kb-gaps-summary").textContent = "";
      report(err, "Could not load the knowledge gaps.");
    }
  }

  function renderGaps(data) {
    const clusters = data.clusters || [];
    const total = Number(data.total_questions) || 0;
    $("kb-gaps-summary").textContent = total
      ? total + (total === 1 ? " question" : " questions") + " the bot could not answer well, in " +
        (data.total_clusters ?? clusters.length) + ((data.total_clusters ?? clusters.length) === 1 ? " gap" : " gaps") + ", most asked first."
      : "";
    $("kb-gaps-empty").hidden = clusters.length > 0;
    $("kb-gaps-table").hidden = clusters.length === 0;
    $("kb-gaps-table").tBodies[0].replaceChildren(...clusters.map(gapRow));
  }

  function gapRow(cluster) {
    const kinds = Object.entries(cluster.kinds || {}).filter(([, n]) => n > 0)
      .map(([kind, n]) => h("span", { class: "badge kb-gap-kind", "data-kind": kind }, humanize(kind) + " " + n));
    const examples = (cluster.examples || []).map((example) => {
      const open = example.conversation_id
        ? h("button", { type: "button", class: "link-button kb-gap-conv", title: "Open the conversation" }, "#" + example.conversation_id)
        : null;
      if (open) open.addEventListener("click", () => openConversation(example.conversation_id));
      return h("li", null, [h("span", { class: "kb-gap-example", dir: "auto" }, String(example.text || "")), open ? " " : null, open]);
    });
    const write = h("button", { type: "button", class: "btn btn-primary btn-small", "data-write": "true" }, "Write article");
    write.addEventListener("click", () => writeFromGap(cluster, write));
    let nearest = null;
    if (cluster.nearest_article_id) {
      nearest = h("button", { type: "button", class: "link-button", title: "The closest article the bot has" }, "Nearest: " + cluster.nearest_article_id);
      nearest.addEventListener("click", () => {
        setKbSection("articles");
        openKbArticle(cluster.nearest_article_id, cluster.locale);
      });
    }
    return h("tr", { "data-gap": cluster.key, "data-locale": cluster.locale }, [
      h("td", { class: "num kb-gap-count" }, String(cluster.count)),
      h("th", { scope: "row" }, [
        h("div", { class: "kb-gap-title", dir: "auto" }, String(cluster.suggested_title || cluster.representative || "")),
        h("div", { class: "muted kb-gap-rep", dir: "auto" }, [String(cluster.representative || ""), " · ", String(cluster.locale || "")]),
        (cluster.top_terms || []).length ? h("div", { class: "kb-gap-terms" }, cluster.top_terms.map((t) => h("span", { class: "badge kb-term" }, String(t)))) : null,
      ]),
      h("td", null, h("div", { class: "badges" }, kinds)),
      h("td", null, h("ul", { class: "kb-gap-examples" }, examples)),
      h("td", null, h("div", { class: "kb-gap-actions" }, [write, nearest])),
    ]);
  }

  /** One click: the cluster's draft becomes a new draft article, open in the editor. */
  async function writeFromGap(cluster, button) {
    if (!(await kbMayLeave())) return;
    button.disabled = true;
    try {
      const created = await api("POST", "/kb/articles", cluster.draft);
      setKbSection("articles");
      showKbArticle(created);
      refreshKbAround();
      $("kb-body").focus();
      $("kb-body").select();
      showNotice("Draft created from the gap: write the answer, then submit it for review.");
    } catch (err) {
      report(err, "Could not create the draft.");
    } finally {
      button.disabled = false;
    }
  }

  async function downloadGapsCsv() {
    initGapsRange();
    try {
      await download("/kb/gaps.csv?" + gapsParams(), "knowledge-gaps.csv");
    } catch (err) {
      report(err, "Could not download the report.");
    }
  }

  // ------------------------------------------------------------------ the knowledge-base dialog

  /**
   * A small modal question: a title, a text, optional fields. Resolves with the values once
   * ``run`` (if any) succeeded, or null when cancelled; ``run``'s errors stay in the dialog.
   */
  function kbAsk(options) {
    const dialog = $("kb-dialog");
    if (dialog.open) return Promise.resolve(null);
    $("kb-dialog-title").textContent = options.title;
    $("kb-dialog-text").textContent = options.text || "";
    $("kb-dialog-text").hidden = !options.text;
    const fields = (options.fields || []).map((field) => {
      const id = "kb-dialog-field-" + field.name;
      const input = field.multiline
        ? h("textarea", { id, rows: 3, dir: "auto", required: field.required || null })
        : h("input", { id, type: "text", dir: "auto", autocomplete: "off", required: field.required || null });
      input.value = field.value || "";
      input.dataset.name = field.name;
      return [h("label", { for: id }, field.label), input];
    });
    $("kb-dialog-fields").replaceChildren(...fields.flat());
    const submit = $("kb-dialog-submit");
    submit.textContent = options.confirm || "OK";
    submit.className = "btn " + (options.danger ? "btn-danger-solid" : "btn-primary");
    submit.disabled = false;
    showDialogError("kb-dialog-error", null);
    return new Promise((resolve) => {
      state.kb.ask = { options, resolve };
      dialog.addEventListener("close", () => {
        if (state.kb.ask && state.kb.ask.resolve === resolve) {
          state.kb.ask = null;
          resolve(null);
        }
      }, { once: true });
      showDialog(dialog, dialog.querySelector("#kb-dialog-fields input, #kb-dialog-fields textarea") || submit);
    });
  }

  async function onKbDialogSubmit(event) {
    event.preventDefault();
    const ask = state.kb.ask;
    if (!ask) return;
    const values = {};
    for (const input of $("kb-dialog-fields").querySelectorAll("[data-name]")) {
      values[input.dataset.name] = input.value.trim();
      if (input.required && !values[input.dataset.name]) {
        showDialogError("kb-dialog-error", { message: "Fill in “" + input.labels[0].textContent + "”." });
        input.focus();
        return;
      }
    }
    const submit = $("kb-dialog-submit");
    submit.disabled = true;
    try {
      if (ask.options.run) await ask.options.run(values);
    } catch (err) {
      showDialogError("kb-dialog-error", err, "Something went wrong.");
      submit.disabled = false;
      return;
    }
    state.kb.ask = null;
    $("kb-dialog").close();
    ask.resolve(values);
  }

  function wireKb() {
    $("kb-show-articles").addEventListener("click", () => setKbSection("articles"));
    $("kb-show-gaps").addEventListener("click", () => setKbSection("gaps"));
    $("kb-search").addEventListener("submit", (event) => {
      event.preventDefault();
      onKbFilterChange();
    });
    $("kb-q").addEventListener("input", onKbSearchInput);
    for (const id of ["kb-filter-status", "kb-filter-category", "kb-filter-tag", "kb-filter-locale"]) $(id).addEventListener("change", onKbFilterChange);
    $("kb-prev").addEventListener("click", () => {
      state.kb.offset = Math.max(0, state.kb.offset - KB_PAGE);
      loadKbList();
    });
    $("kb-next").addEventListener("click", () => {
      state.kb.offset += KB_PAGE;
      loadKbList();
    });
    $("kb-new").addEventListener("click", () => {
      setKbSection("articles");
      newKbArticle();
    });
    $("kb-form").addEventListener("submit", (event) => {
      event.preventDefault();
      saveKbArticle();
    });
    $("kb-form").addEventListener("input", onKbFieldInput);
    $("kb-form").addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "s") {
        event.preventDefault();
        saveKbArticle();
      }
    });
    $("kb-reload").addEventListener("click", reloadKbArticle);
    $("kb-diff-close").addEventListener("click", () => {
      $("kb-diff").hidden = true;
    });
    $("kb-import").addEventListener("click", () => $("kb-import-file").click());
    $("kb-import-file").addEventListener("change", (event) => {
      const file = event.target.files && event.target.files[0];
      event.target.value = ""; // the same file can be chosen again
      if (file) importKbFile(file);
    });
    for (const button of document.querySelectorAll("[data-export]")) {
      button.addEventListener("click", () => exportKb(button.dataset.export));
    }
    $("kb-gaps-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadGaps();
    });
    $("kb-gaps-csv").addEventListener("click", downloadGapsCsv);
    $("kb-dialog-form").addEventListener("submit", onKbDialogSubmit);
  }

  // ================================================================== typing indicators

  /** Our typing, to the customer: on:true at most every 2 s while typing, on:false after 3 s idle. */
  function onAgentTyping() {
    const id = state.openId;
    const input = $("reply-input");
    if (!id || input.disabled || state.noteMode) return;
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

  // ================================================================== live socket

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
        verifySession(); // presence and role may have changed while we were away
        refreshAll(); // catch up on whatever happened while we were disconnected
        break;
      case "queue":
        refreshQueue();
        scheduleSupervisorRefresh();
        break;
      case "resync": // the server's live events may have had a gap (a Redis blip): catch up
        refreshAll();
        break;
      case "conversation":
        onConversationEvent(String(frame.conversation_id));
        break;
      case "customer": // merged or unmerged: the panel's profile and history changed
        if (state.customer.id && String(frame.customer_id) === state.customer.id) loadCustomer(state.customer.id);
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
        scheduleSupervisorRefresh();
        break;
      case "assigned":
        onAssignedEvent(String(frame.conversation_id), frame.agent_id);
        break;
      case "sla":
        onSlaEvent(frame);
        break;
      case "agents":
        refreshQueue(); // the online count
        refreshMe(); // our own presence, if someone else changed it
        scheduleSupervisorRefresh();
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
    scheduleSupervisorRefresh();
  }

  /**
   * A conversation was assigned automatically or by a transfer (never sent for one's own claim).
   * To me: tell me, and open it if nothing else is open.
   */
  function onAssignedEvent(id, agentId) {
    refreshMine();
    refreshQueue();
    if (id === state.openId) refreshOpen();
    scheduleSupervisorRefresh();
    const me = state.agent && state.agent.id != null ? String(state.agent.id) : null;
    if (me === null || String(agentId) !== me) return;
    const open = () => openConversation(id);
    if (!state.openId && state.view === "conversations") open();
    else markUnread(id);
    showNotice("A conversation was assigned to you.", "info", id === state.openId ? null : { label: "Open", run: open });
  }

  /** An SLA target was breached: refresh the badges; tell me if the conversation is mine. */
  function onSlaEvent(frame) {
    const id = String(frame.conversation_id);
    refreshQueue();
    refreshMine();
    if (id === state.openId) refreshOpen();
    scheduleSupervisorRefresh();
    if (frame.status !== "breached") return;
    const conv = state.mine.find((c) => String(c.id) === id);
    if (conv) {
      const target = (SLA_LABELS[frame.target] || "SLA").toLowerCase();
      showNotice("SLA breached (" + target + ") for " + customerName(conv) + ".", "warn",
        id === state.openId ? null : { label: "Open", run: () => openConversation(id) });
    }
  }

  /** New message: append to the open conversation (dedupe by id), otherwise flag its row unread. */
  function onMessageEvent(id, message) {
    if (id === state.openId && message) {
      if (state.loading) state.liveBuffer.push(message);
      else upsertEntry(message);
      if (message.author === "customer") hideCustomerTyping();
    } else if (!message || (message.author !== "agent" && message.kind !== "note")) {
      markUnread(id);
    }
    if (message) addToTimeline(Object.assign({ conversation_id: id }, message));
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
    for (const list of [$("history"), $("timeline")]) {
      const node = list.querySelector('.entry[data-id="' + String(Number(id)) + '"]');
      const marker = node && node.querySelector(".entry-state");
      if (!marker) continue;
      const shown = furthestState(marker.dataset.state, value);
      marker.dataset.state = shown;
      marker.textContent = stateLabel(shown);
    }
  }

  // ================================================================== keyboard shortcuts

  /**
   * Single keys work when no field has the keyboard and no dialog is open (Esc in a dialog is the
   * browser's). Alt+N toggles note mode from anywhere, the reply box included (Ctrl+Shift+N is
   * Chrome's incognito window, which a page never sees).
   */
  function onGlobalKeydown(event) {
    if ($("app").hidden) return;
    const key = event.key;
    if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyN") {
      if (!state.openId || openDialog()) return;
      event.preventDefault();
      setNoteMode(!state.noteMode, true);
      return;
    }
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (openDialog() || isTypingTarget(event.target)) return;
    if (state.pendingG && Date.now() - state.pendingG < 1500) {
      state.pendingG = 0;
      if (key === "s" && isSupervisor()) {
        event.preventDefault();
        setView("supervisor");
        $("tab-supervisor").focus();
        return;
      }
      if (key === "c") {
        event.preventDefault();
        setView("conversations");
        $("tab-conversations").focus();
        return;
      }
      if (key === "k") {
        event.preventDefault();
        setView("kb");
        $("tab-kb").focus();
        return;
      }
      if (key === "r" && isSupervisor()) {
        event.preventDefault();
        setView("reports");
        $("tab-reports").focus();
        return;
      }
    }
    state.pendingG = 0;
    // The conversation keys mean nothing in the reports.
    if (state.view === "reports" && !["?", "g", "Escape"].includes(key)) return;
    // The conversation keys (j, k, c, n, t, x) mean nothing in the knowledge base: "/" searches.
    if (state.view === "kb" && !["?", "g", "/", "Escape"].includes(key)) return;
    if (state.view === "kb" && key === "/") {
      event.preventDefault();
      setKbSection("articles");
      $("kb-q").focus();
      return;
    }
    switch (key) {
      case "j":
        event.preventDefault();
        if (state.view === "conversations") moveInList(1);
        break;
      case "k":
        event.preventDefault();
        if (state.view === "conversations") moveInList(-1);
        break;
      case "c":
        event.preventDefault();
        claimNext();
        break;
      case "/":
        event.preventDefault();
        focusReplyWithPicker();
        break;
      case "n":
        if (!state.openId) return;
        event.preventDefault();
        setNoteMode(!state.noteMode, true);
        break;
      case "t":
        if (!state.openId) return;
        event.preventDefault();
        openTransferDialog();
        break;
      case "x":
        if (!state.openId) return;
        event.preventDefault();
        openCloseDialog();
        break;
      case "?":
        event.preventDefault();
        openHelp();
        break;
      case "g":
        state.pendingG = Date.now();
        break;
      case "Escape":
        if (!$("notice").hidden) $("notice").hidden = true;
        break;
      default:
        break;
    }
  }

  // ================================================================== start

  function wire() {
    $("login-form").addEventListener("submit", onLoginSubmit);
    $("logout").addEventListener("click", logout);
    $("presence").addEventListener("change", onPresenceChange);
    $("tab-conversations").addEventListener("click", () => setView("conversations"));
    $("tab-supervisor").addEventListener("click", () => setView("supervisor"));
    $("tab-kb").addEventListener("click", () => setView("kb"));
    $("tab-reports").addEventListener("click", () => setView("reports"));
    $("tab-reports").addEventListener("keydown", onTabKeydown);
    $("tab-conversations").addEventListener("keydown", onTabKeydown);
    $("tab-supervisor").addEventListener("keydown", onTabKeydown);
    $("tab-kb").addEventListener("keydown", onTabKeydown);
    $("sup-refresh").addEventListener("click", () => scheduleSupervisorRefresh(true));
    $("open-help").addEventListener("click", openHelp);
    $("open-canned").addEventListener("click", openCannedDialog);
    $("claim-next").addEventListener("click", claimNext);
    $("claim-open").addEventListener("click", () => state.openId && claimConversation(state.openId));
    $("close-conversation").addEventListener("click", openCloseDialog);
    $("transfer-open").addEventListener("click", openTransferDialog);
    $("handback").addEventListener("click", handBack);
    $("toggle-customer").addEventListener("click", toggleCustomerPanel);
    $("mode-reply").addEventListener("click", () => setNoteMode(false, true));
    $("mode-note").addEventListener("click", () => setNoteMode(true, true));
    $("reply-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sendReply();
    });
    const input = $("reply-input");
    input.addEventListener("keydown", onReplyKeydown);
    input.addEventListener("input", onReplyInput);
    input.addEventListener("click", () => state.canned.open && updateCannedPicker());
    input.addEventListener("blur", () => {
      stopAgentTyping();
      closeCannedPicker();
    });
    $("timeline-channel").addEventListener("change", onTimelineChannelChange);
    $("timeline-kind").addEventListener("change", onTimelineChannelChange);
    $("customer-note-form").addEventListener("submit", addCustomerNote);
    $("timeline-older").addEventListener("click", () => loadTimeline(true));
    $("transfer-form").addEventListener("submit", onTransferSubmit);
    $("close-form").addEventListener("submit", onCloseSubmit);
    $("canned-form").addEventListener("submit", onCannedSave);
    $("canned-new").addEventListener("click", () => {
      resetCannedForm();
      renderManagedCanned();
      $("canned-shortcut").focus();
    });
    $("canned-filter").addEventListener("input", renderManagedCanned);
    wireKb();
    wireDialogs();
    document.addEventListener("keydown", onGlobalKeydown);
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

  /**
   * The little that views in other files (reports.js, kb_try.js) need from this one. They load
   * after this file and register their hooks with onView (and onKbArticle).
   */
  window.SwitchboardConsole = Object.freeze({
    api,
    download,
    h,
    humanize,
    channelLabel,
    formatDuration,
    report,
    onView(name, hooks) {
      viewHooks[name] = hooks;
    },
    // The knowledge-base editor, for kb_try.js.
    isKbPublisher,
    openKbArticle,
    onKbArticle(hook) {
      kbArticleHooks.push(hook);
    },
  });

  function init() {
    wire();
    loadSession();
    if (state.token) enterApp();
    else showLogin("");
  }

  init();
})();
