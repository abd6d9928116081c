// The operator's desk: instruments and their sessions (open, halt, resume, close), members and
// their keys, browser sessions (list, revoke).
import {call, get} from "../api.js";
import {errorText, t} from "../i18n.js";
import {fill, h, time, yuan} from "../util.js";
import {field, formError, openModal, closeModal, panel, submitForm, table} from "./common.js";

const ACTIONS = [["continuous", "op.open"], ["halted", "op.halt"], ["continuous", "op.resume"], ["closed", "op.close"],
                 ["pre_open", "op.preopen"]];

export function mount(root) {
  const instBody = h("div", {"data-testid": "op-instruments"});
  const membersBody = h("div", {class: "scroll", "data-testid": "op-members"});
  const sessionsBody = h("div", {class: "scroll", "data-testid": "op-sessions"});

  async function loadInstruments() {
    const rows = await get("/v1/instruments");
    fill(instBody, table([
      [t("instrument.symbol"), (i) => i.symbol], [t("instrument.session"), (i) => h("span", {"data-testid": "session-state"}, t("session." + i.session))],
      [t("instrument.ref"), (i) => yuan(i.ref_price), true], [t("instrument.band"), (i) => `${yuan(i.lower_limit)} – ${yuan(i.upper_limit)}`, true],
      ["", (i) => h("span", {}, ACTIONS.filter(([s, label]) => visible(i.session, s, label)).map(([s, label]) =>
          h("button", {class: "small", "data-action": label.slice(3), onclick: (ev) => session(i.symbol, s, ev)}, t(label))),
        h("div", {class: "err", style: "margin:0", "data-error-for": "_row"}))],
    ], rows, {rowAttrs: (i) => ({"data-symbol": i.symbol})}));
  }

  function visible(current, target, label) {
    if (label === "op.resume") return current === "halted";
    if (label === "op.open") return current === "closed" || current === "pre_open";
    if (label === "op.halt") return current === "continuous" || current === "pre_open";
    if (label === "op.preopen") return current === "closed";
    return current !== "closed";
  }

  async function session(symbol, state, ev) {
    try { await call("POST", `/v1/admin/instruments/${symbol}/session`, {state}); loadInstruments(); } catch (err) {
      ev.target.closest("tr").querySelector("[data-error-for]").textContent = errorText(err);
    }
  }

  const name = h("input", {"data-testid": "new-member"});
  const roles = h("select", {multiple: true, size: 3}, ["trader", "supplier", "warehouse", "clearing", "lender", "operator"]
    .map((r) => h("option", {value: r}, t("role." + r))));
  const memberForm = h("form", {class: "stack"}, field("member", t("op.member"), name), field("roles", t("op.roles"), roles), formError(),
    h("button", {class: "primary", type: "submit"}, t("op.addMember")));
  memberForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const creds = await submitForm(memberForm, "POST", "/v1/admin/members",
                                   {member: name.value.trim(), roles: [...roles.selectedOptions].map((o) => o.value)});
    if (creds) { showCredentials(creds); loadMembers(); }
  });

  function showCredentials(c) {
    openModal(h("div", {}, h("h3", {}, t("op.credentials")), h("p", {class: "muted"}, t("op.credentialsOnce")),
      h("div", {class: "kv"}, h("span", {}, t("signin.key")), h("code", {}, c.api_key), h("span", {}, t("signin.secret")), h("code", {}, c.api_secret))),
      [h("button", {onclick: closeModal}, t("close"))]);
  }

  async function loadMembers() {
    const rows = await get("/v1/admin/members");
    fill(membersBody, table([[t("op.member"), (m) => m.member], [t("op.roles"), (m) => m.roles.map((r) => t("role." + r)).join(", ")],
      ["", (m) => h("button", {class: "small", onclick: async () => showCredentials(await call("POST", `/v1/admin/members/${m.member}/keys`))}, t("op.newKey"))]], rows));
  }

  async function loadSessions() {
    const rows = await get("/v1/admin/sessions");
    fill(sessionsBody, table([[t("op.session"), (s) => s.session_id], [t("op.member"), (s) => s.member],
      [t("op.since"), (s) => time(s.created_ms)], [t("op.lastSeen"), (s) => time(s.last_seen_ms)], [t("op.expires"), (s) => time(s.expires_ms)],
      [t("op.client"), (s) => `${s.client_ip} ${s.user_agent.slice(0, 40)}`],
      ["", (s) => h("button", {class: "small", "data-testid": "revoke", onclick: async () => { await call("DELETE", `/v1/admin/sessions/${s.session_id}`); loadSessions(); }}, t("op.revoke"))]],
      rows, {rowAttrs: (s) => ({"data-session": s.session_id, "data-member": s.member})}));
  }

  fill(root, h("div", {class: "grid two"},
    panel(t("op.instruments"), instBody, {cls: "wide", tools: h("button", {class: "small", onclick: loadInstruments}, t("refresh"))}),
    panel(t("op.members"), [membersBody, memberForm]),
    panel(t("op.sessions"), sessionsBody, {cls: "wide", tools: h("button", {class: "small", "data-testid": "sessions-refresh", onclick: loadSessions}, t("refresh"))})));
  loadInstruments(); loadMembers(); loadSessions();
  return () => {};
}
