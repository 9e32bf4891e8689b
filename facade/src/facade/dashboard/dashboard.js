// The migration dashboard: polls the facade's admin API and changes route modes.
// Every value from the API reaches the page as text (textContent, createTextNode,
// setAttribute), never as markup: a route id or a diff can hold anything.
"use strict";

(() => {
  const API = "/_strangler/api";
  const POLL_MS = 1500;
  const TIMEOUT_MS = 5000;
  const TOKEN_KEY = "strangler.adminToken";
  const ACTOR_KEY = "strangler.actor";
  const MODES = ["monolith", "shadow", "canary", "extracted"];

  const $ = (id) => document.getElementById(id);
  const routesTable = $("routes");
  const rows = new Map(); // route id -> {body, signature, cells, controls}
  let timer = null;
  let generation = 0; // a sign-out or a new token makes earlier polls' answers stale
  let lastParity = "";
  let lastAudit = "";
  let pending = null; // a change the contract gate refused: {ctl, body}
  let inFlight = null; // the generation whose poll is waiting for answers
  let again = false; // poll once more as soon as the one in flight ends

  // -- small DOM helpers: text only
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setText(node, text, className) {
    const value = String(text);
    if (node.textContent !== value) node.textContent = value;
    if (className !== undefined && node.className !== className) node.className = className;
  }

  // -- formatting
  const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);
  function ms(x) {
    if (x === null || x === undefined) return "—";
    if (x < 10) return `${x.toFixed(2)} ms`;
    if (x < 1000) return `${x.toFixed(1)} ms`;
    return `${(x / 1000).toFixed(2)} s`;
  }
  const json = (v) => (v === undefined ? "(absent)" : JSON.stringify(v));
  function clock(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString();
  }
  function errorClass(rate, requests) {
    if (!requests) return "num";
    if (rate >= 0.05) return "num bad";
    if (rate > 0) return "num warn";
    return "num good";
  }
  function matchClass(rate) {
    if (rate === null || rate === undefined) return "muted";
    if (rate >= 0.99) return "good";
    if (rate >= 0.95) return "warn";
    return "bad";
  }
  const breakerClass = (state) =>
    ({ closed: "pill good", "half-open": "pill warn", open: "pill bad" })[state] || "pill muted";

  // -- talking to the facade
  class HttpError extends Error {
    constructor(status, body) {
      const detail = body && typeof body.detail === "string" ? body.detail : "";
      super(`HTTP ${status}${detail ? `: ${detail}` : ""}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, options = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    const actor = sessionStorage.getItem(ACTOR_KEY);
    headers["X-Actor"] = actor ? `dashboard:${actor}` : "dashboard";
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), TIMEOUT_MS);
    let response;
    try {
      response = await fetch(API + path, {
        method: options.method || "GET",
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: abort.signal,
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      const why = err && err.name === "AbortError" ? `no answer within ${TIMEOUT_MS / 1000} s` : err.message;
      throw new Error(`cannot reach the facade (${why})`);
    } finally {
      clearTimeout(timeout);
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) throw new HttpError(response.status, body);
    return body;
  }

  // -- login and status
  function showLogin(message) {
    stopPolling();
    $("main").hidden = true;
    $("signout").hidden = true;
    $("login").hidden = false;
    setStatus("not connected", "status idle");
    if (message) showError(message);
    $("token").focus();
  }

  function showError(message) {
    const box = $("error");
    setText(box, message);
    box.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
  }

  function setStatus(text, className) {
    setText($("status"), text, className);
  }

  function authProblem(err) {
    if (!(err instanceof HttpError)) return null;
    if (err.status === 401 || err.status === 403) {
      return `The facade refused the admin token (HTTP ${err.status}). Enter it again.`;
    }
    if (err.status === 503 && err.body && /FACADE_ADMIN_TOKEN/.test(err.body.detail || "")) {
      return "The admin API is disabled on this facade: start it with FACADE_ADMIN_TOKEN set.";
    }
    return null;
  }

  function onLogin(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    // Only characters a header can carry: the name goes out in X-Actor.
    const actor = $("actor").value.replace(/[^A-Za-z0-9._@-]/g, "").slice(0, 40);
    sessionStorage.setItem(TOKEN_KEY, token);
    if (actor) sessionStorage.setItem(ACTOR_KEY, actor);
    else sessionStorage.removeItem(ACTOR_KEY);
    $("token").value = "";
    start();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    clearError();
    showLogin();
  }

  function start() {
    clearError();
    $("login").hidden = true;
    $("main").hidden = false;
    $("signout").hidden = false;
    setStatus("connecting…", "status idle");
    stopPolling();
    generation += 1;
    poll(generation);
  }

  function stopPolling() {
    generation += 1;
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  // -- the poll loop: one request pair at a time, then wait
  async function poll(mine) {
    inFlight = mine;
    try {
      const [overview, parity] = await Promise.all([api("/overview"), fetchParity()]);
      if (mine !== generation) return;
      clearError();
      renderOverview(overview, parity);
      renderParity(parity);
      renderAudit(overview.audit || []);
      setStatus(`live · updated ${clock(overview.generated_at)}`, "status live");
    } catch (err) {
      if (mine !== generation) return;
      const auth = authProblem(err);
      if (auth) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin(auth);
        return;
      }
      setStatus("offline", "status down");
      showError(`${err.message}. Retrying every ${POLL_MS / 1000} s.`);
    } finally {
      if (inFlight === mine) inFlight = null;
    }
    if (mine !== generation) return;
    if (again) {
      again = false;
      poll(mine);
    } else {
      timer = setTimeout(() => poll(mine), POLL_MS);
    }
  }

  // After a change: show its effect now rather than at the next tick.
  function refreshNow() {
    if (inFlight === generation) {
      again = true;
      return;
    }
    if (timer !== null) clearTimeout(timer);
    timer = null;
    poll(generation);
  }

  async function fetchParity() {
    try {
      return { ok: true, data: await api("/parity") };
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) return { ok: false, missing: true };
      if (authProblem(err)) throw err;
      return { ok: false, error: err.message };
    }
  }

  // -- routes table
  function parityByRoute(parity) {
    const out = new Map();
    if (parity.ok && parity.data && Array.isArray(parity.data.routes)) {
      for (const entry of parity.data.routes) out.set(entry.route, entry);
    }
    return out;
  }

  function renderOverview(overview, parity) {
    setText($("window-note"), `(last ${overview.window_seconds} s)`);
    const parityRoutes = parityByRoute(parity);
    const seen = new Set();
    let previous = routesTable.tHead;
    for (const route of overview.routes) {
      seen.add(route.id);
      const sides = Object.keys(route.sides);
      const signature = sides.join("\u0000");
      let row = rows.get(route.id);
      if (!row || row.signature !== signature) {
        const fresh = buildRoute(route, sides, row ? row.controls : null);
        if (row) row.body.replaceWith(fresh.body);
        row = fresh;
        rows.set(route.id, row);
      }
      if (previous.nextSibling !== row.body) previous.after(row.body);
      previous = row.body;
      updateRoute(row, route, sides, parityRoutes.get(route.id), parity);
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.body.remove();
        rows.delete(id);
      }
    }
  }

  function buildRoute(route, sides, controls) {
    const body = el("tbody", { "data-route": route.id });
    const cells = { sides: [] };
    sides.forEach((side, i) => {
      const tr = el("tr", { "data-side": side });
      if (i === 0) {
        const span = String(sides.length);
        cells.route = el("td", { rowspan: span, class: "route", "data-col": "route" });
        cells.mode = el("td", { rowspan: span, "data-col": "mode" });
        tr.append(cells.route, cells.mode);
      }
      const sideCells = {
        name: el("td", { class: "side", "data-col": "side" }),
        requests: el("td", { class: "num", "data-col": "requests" }),
        share: el("td", { "data-col": "share" }),
        errors: el("td", { class: "num", "data-col": "errors" }),
        p50: el("td", { class: "num", "data-col": "p50" }),
        p99: el("td", { class: "num", "data-col": "p99" }),
        breaker: el("td", { "data-col": "breaker" }),
      };
      const bar = el("span", { class: "bar" });
      const fill = el("span", { class: "fill" });
      bar.append(fill);
      sideCells.shareText = el("span", { class: "share-text" });
      sideCells.fill = fill;
      sideCells.share.append(bar, sideCells.shareText);
      tr.append(
        sideCells.name,
        sideCells.requests,
        sideCells.share,
        sideCells.errors,
        sideCells.p50,
        sideCells.p99,
        sideCells.breaker,
      );
      if (i === 0) {
        const span = String(sides.length);
        cells.match = el("td", { rowspan: span, "data-col": "match" });
        cells.control = el("td", { rowspan: span, class: "control", "data-col": "control" });
        tr.append(cells.match, cells.control);
      }
      cells.sides.push(sideCells);
      body.append(tr);
    });
    const ctl = controls || buildControls(route);
    cells.control.append(ctl.root);
    return { body, signature: sides.join("\u0000"), cells, controls: ctl };
  }

  function buildControls(route) {
    const root = el("form", { class: "controls" });
    const select = el("select", { "aria-label": `Mode for ${route.id}` });
    for (const mode of MODES) select.append(el("option", { value: mode }, mode));
    const percent = el("input", {
      type: "number",
      min: "0",
      max: "100",
      step: "any",
      "aria-label": `Canary percent for ${route.id}`,
      class: "percent",
    });
    const button = el("button", { type: "submit" }, "Apply");
    root.append(select, percent, el("span", { class: "muted" }, "%"), button);
    const ctl = { root, select, percent, button, dirty: false, routeId: route.id };
    const syncPercent = () => {
      const canary = select.value === "canary";
      percent.disabled = !canary;
      percent.required = canary;
    };
    select.addEventListener("change", () => {
      ctl.dirty = true;
      syncPercent();
    });
    percent.addEventListener("input", () => {
      ctl.dirty = true;
    });
    root.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { mode: select.value };
      if (select.value === "canary") body.percent = Number(percent.value);
      changeRoute(ctl, body, false);
    });
    ctl.syncPercent = syncPercent;
    return ctl;
  }

  function updateRoute(row, route, sides, parityEntry, parity) {
    const { cells } = row;
    if (!cells.route.firstChild) {
      cells.route.append(el("div", { class: "route-id" }), el("div", { class: "path" }));
    }
    setText(cells.route.firstChild, route.id);
    setText(cells.route.lastChild, route.path);
    const modeText = route.mode === "canary" ? `canary ${route.percent}%` : route.mode;
    if (!cells.mode.firstChild) cells.mode.append(el("span"));
    setText(cells.mode.firstChild, modeText, `mode mode-${route.mode}`);

    sides.forEach((side, i) => {
      const stats = route.sides[side];
      const c = cells.sides[i];
      let role = "";
      if (side === route.upstream && side !== route.fallback) role = " (candidate)";
      else if (side === route.fallback && route.upstream !== route.fallback) role = " (fallback)";
      setText(c.name, side + role);
      setText(c.requests, stats.requests);
      setText(c.shareText, pct(stats.share));
      c.fill.style.width = `${Math.round(stats.share * 100)}%`;
      let errors = `${stats.errors} · ${pct(stats.error_rate)}`;
      if (stats.failovers) errors += ` · ${stats.failovers} failed over`;
      setText(c.errors, errors, errorClass(stats.error_rate, stats.requests || stats.failovers));
      setText(c.p50, ms(stats.p50_ms));
      setText(c.p99, ms(stats.p99_ms));
      const state = route.breakers[side];
      if (!c.breaker.firstChild) c.breaker.append(el("span"));
      setText(c.breaker.firstChild, state || "—", breakerClass(state));
    });

    let match = "—";
    let matchCls = "muted";
    let title = "";
    if (!parity.ok) {
      title = parity.missing ? "no parity data" : `parity unavailable: ${parity.error}`;
    } else if (!parityEntry) {
      title = "nothing compared for this route (shadow mode compares)";
    } else {
      match = parityEntry.match_rate === null ? "nothing compared" : pct(parityEntry.match_rate);
      if (parityEntry.compared) match += ` (${parityEntry.matched}/${parityEntry.compared})`;
      matchCls = matchClass(parityEntry.match_rate);
    }
    setText(cells.match, match, matchCls);
    cells.match.title = title;

    const ctl = row.controls;
    if (!ctl.dirty) {
      if (ctl.select.value !== route.mode) ctl.select.value = route.mode;
      const p = route.percent === null || route.percent === undefined ? "" : String(route.percent);
      if (ctl.percent.value !== p) ctl.percent.value = p;
      ctl.syncPercent();
    }
    // The default route catches everything else: it stays with the monolith.
    const fixed = route.id === "default";
    ctl.select.disabled = fixed;
    ctl.button.disabled = fixed;
    if (fixed) ctl.percent.disabled = true;
  }

  // -- changing a route
  function notice(kind, title, lines, actions) {
    const box = $("notice");
    box.replaceChildren(el("strong", {}, title));
    if (lines && lines.length) {
      box.append(el("ul", {}, ...lines.map((line) => el("li", {}, line))));
    }
    if (actions && actions.length) box.append(el("div", { class: "actions" }, ...actions));
    box.className = `banner ${kind}`;
    box.hidden = false;
  }

  function clearNotice() {
    $("notice").hidden = true;
    pending = null;
  }

  async function changeRoute(ctl, body, force) {
    const target = `${ctl.routeId} → ${body.mode}${body.mode === "canary" ? ` ${body.percent}%` : ""}`;
    ctl.button.disabled = true;
    try {
      const sent = force ? { ...body, force: true } : body;
      await api(`/routes/${encodeURIComponent(ctl.routeId)}`, { method: "PUT", body: sent });
      ctl.dirty = false;
      pending = null;
      notice("ok", `Applied: ${target}${force ? " (contract gate overridden)" : ""}`);
      refreshNow();
    } catch (err) {
      const auth = authProblem(err);
      if (auth) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin(auth);
        return;
      }
      if (err instanceof HttpError && err.status === 409) {
        const reasons = (err.body && err.body.reasons) || [err.message];
        pending = { ctl, body };
        const forceButton = el("button", { type: "button", class: "danger" }, "Force the change");
        const cancel = el("button", { type: "button" }, "Cancel");
        forceButton.addEventListener("click", () => {
          const current = pending;
          clearNotice();
          if (current) changeRoute(current.ctl, current.body, true);
        });
        cancel.addEventListener("click", () => {
          ctl.dirty = false;
          clearNotice();
        });
        notice(
          "warn",
          `The contract gate refused ${target}:`,
          reasons,
          [forceButton, cancel],
        );
      } else if (err instanceof HttpError && err.body && Array.isArray(err.body.problems)) {
        notice("error", `Refused: ${target}`, err.body.problems);
      } else {
        notice("error", `Could not apply ${target}: ${err.message}`);
      }
    } finally {
      ctl.button.disabled = ctl.routeId === "default";
    }
  }

  // -- parity panel
  function renderParity(parity) {
    const key = JSON.stringify(parity);
    if (key === lastParity) return;
    lastParity = key;
    const box = $("parity");
    if (!parity.ok) {
      const text = parity.missing
        ? "no parity data (this facade does not compare responses yet)"
        : `no parity data: ${parity.error}`;
      box.replaceChildren(el("p", { class: "muted", id: "parity-empty" }, text));
      return;
    }
    const routes = (parity.data && parity.data.routes) || [];
    if (!routes.length) {
      box.replaceChildren(
        el("p", { class: "muted", id: "parity-empty" }, "no parity data yet: put a route in shadow mode"),
      );
      return;
    }
    const parts = [];
    for (const entry of routes) {
      const summary = [
        `${entry.compared} compared`,
        `${entry.matched} matched`,
        `${entry.mismatched} mismatched`,
        `${entry.candidate_errors} candidate errors`,
        `${entry.dropped} dropped`,
        `${entry.skipped_unsafe} unsafe skipped`,
      ].join(" · ");
      const section = el(
        "div",
        { class: "parity-route", "data-route": entry.route },
        el(
          "h3",
          {},
          `${entry.route} `,
          el("span", { class: matchClass(entry.match_rate) }, entry.match_rate === null ? "nothing compared" : `${pct(entry.match_rate)} match`),
        ),
        el("p", { class: "muted" }, summary),
      );
      if (entry.noise_paths && entry.noise_paths.length) {
        section.append(el("p", { class: "muted" }, "ignored as noise: ", el("code", {}, entry.noise_paths.join(", "))));
      }
      if (entry.fields && entry.fields.length) {
        section.append(
          el("p", {}, "fields that differ: ", ...entry.fields.flatMap((f, i) => [
            i ? ", " : "",
            el("code", {}, f.path),
            ` ×${f.mismatches}`,
          ])),
        );
      }
      const recent = entry.recent || [];
      if (!recent.length) section.append(el("p", { class: "muted" }, "no recent mismatch"));
      for (const m of recent) {
        const head = el(
          "div",
          { class: "mismatch-head" },
          el("span", { class: "muted" }, clock(m.at)),
          " ",
          el("code", {}, `${m.method} ${m.target}`),
          ` status ${m.primary_status ?? "—"} vs ${m.candidate_status ?? "—"}`,
        );
        const lines = (m.diffs || []).map(
          (d) => `${String(d.kind).padEnd(8)} ${d.path}\n  monolith:  ${json(d.primary)}\n  candidate: ${json(d.candidate)}`,
        );
        section.append(el("div", { class: "mismatch" }, head, el("pre", { class: "diff" }, lines.join("\n"))));
      }
      parts.push(section);
    }
    box.replaceChildren(...parts);
  }

  // -- audit log
  function describeRoute(before, after) {
    if (!before) return "added";
    if (!after) return "removed";
    const mode = (r) => (r.mode === "canary" ? `canary ${r.percent}%` : r.mode);
    const changes = [];
    if (mode(before) !== mode(after)) changes.push(`${mode(before)} → ${mode(after)}`);
    for (const key of ["upstream", "fallback", "timeout", "path"]) {
      if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
        changes.push(`${key} ${json(before[key])} → ${json(after[key])}`);
      }
    }
    return changes.join(", ") || "changed";
  }

  function describe(entry) {
    if (Array.isArray(entry.problems)) return entry.problems.join("; ");
    if (entry.action === "contract-gate") {
      const reasons = Array.isArray(entry.reasons) ? entry.reasons.join("; ") : "";
      return `${entry.route} → ${entry.mode} (${entry.candidate}): ${reasons}`;
    }
    const parts = [];
    const before = (entry.old && entry.old.routes) || {};
    const after = (entry.new && entry.new.routes) || {};
    for (const id of new Set([...Object.keys(before), ...Object.keys(after)])) {
      parts.push(`${id}: ${describeRoute(before[id], after[id])}`);
    }
    const upBefore = (entry.old && entry.old.upstreams) || {};
    const upAfter = (entry.new && entry.new.upstreams) || {};
    for (const name of new Set([...Object.keys(upBefore), ...Object.keys(upAfter)])) {
      const a = upBefore[name];
      const b = upAfter[name];
      if (a && b && a.active_pool !== b.active_pool) {
        parts.push(`upstream ${name}: pool ${json(a.active_pool)} → ${json(b.active_pool)}`);
      } else {
        parts.push(`upstream ${name}: ${a ? (b ? "changed" : "removed") : "added"}`);
      }
    }
    return parts.join("; ") || "no change";
  }

  function renderAudit(entries) {
    const key = JSON.stringify(entries);
    if (key === lastAudit) return;
    lastAudit = key;
    const tbody = $("audit").tBodies[0];
    if (!entries.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "no changes yet")));
      return;
    }
    const resultClass = (r) => ({ applied: "good", refused: "bad" })[r] || "warn";
    tbody.replaceChildren(
      ...entries.map((entry) =>
        el(
          "tr",
          {},
          el("td", { class: "nowrap", title: entry.at }, clock(entry.at)),
          el("td", {}, entry.who ?? "—"),
          el("td", {}, entry.action ?? "—"),
          el("td", { class: resultClass(entry.result) }, entry.result ?? "—"),
          el("td", { class: "what" }, describe(entry)),
        ),
      ),
    );
  }

  // -- wiring
  $("login-form").addEventListener("submit", onLogin);
  $("signout").addEventListener("click", signOut);
  if (sessionStorage.getItem(TOKEN_KEY)) start();
  else showLogin();
})();
