// Forward panels: the member's positions and margin (trader), margin calls and a forward's
// delivery allocation (clearing). Each panel refreshes itself when asked (``el.refresh``).
import {call, get} from "../api.js";
import {errorText, t} from "../i18n.js";
import {change, fill, h, int, yuan} from "../util.js";
import {panel, table} from "./common.js";

const signedYuan = (text) => { const c = change(text, "0"); return h("span", {class: c.cls}, c.text); };

/** One's forward positions, margin and open margin calls. */
export function positionsPanel() {
  const summary = h("div", {class: "kv", "data-testid": "margin-summary"});
  const rows = h("div", {class: "scroll", "data-testid": "positions"});
  const calls = h("div", {"data-testid": "my-margin-calls"});
  async function refresh() {
    const [p, mine] = await Promise.all([get("/v1/positions"), get("/v1/margin-calls")]);
    fill(summary, h("span", {class: "muted"}, t("balance.available")), h("span", {class: "num"}, yuan(p.cash_available)),
      h("span", {class: "muted"}, t("fwd.marginHeld")), h("span", {class: "num"}, yuan(p.margin_held)),
      h("span", {class: "muted"}, t("fwd.marginRequired")), h("span", {class: "num"}, yuan(p.margin_required)));
    fill(rows, table([
      [t("order.symbol"), (x) => x.symbol],
      [t("fwd.net"), (x) => h("span", {class: x.net > 0 ? "up" : x.net < 0 ? "down" : "flat"}, (x.net > 0 ? "+" : "") + int(x.net)), true],
      [t("fwd.avgOpen"), (x) => yuan(x.average_open_price), true], [t("fwd.settlement"), (x) => yuan(x.settlement_price), true],
      [t("fwd.unrealised"), (x) => signedYuan(x.unrealised), true], [t("fwd.realised"), (x) => signedYuan(x.realised), true],
      [t("fwd.margin"), (x) => yuan(x.margin_required), true],
    ], p.positions, {rowAttrs: (x) => ({"data-position": x.symbol})}));
    const open = mine.filter((c) => c.state === "open" || c.state === "liquidating");
    fill(calls, open.length ? table([[t("fwd.call"), (c) => c.call_id], [t("fwd.callAmount"), (c) => yuan(c.amount), true],
      [t("fwd.deadline"), (c) => c.deadline], [t("loan.state"), (c) => t("call." + c.state)]], open) : null);
  }
  const el = panel(t("fwd.title"), [summary, rows, calls], {testid: "forwards",
    tools: h("button", {class: "small", onclick: () => refresh()}, t("refresh"))});
  el.refresh = () => refresh().catch(() => {});
  el.refresh();
  return el;
}

/** Every member's margin calls (clearing). */
export function marginCallsPanel() {
  const body = h("div", {class: "scroll", "data-testid": "margin-calls"});
  async function refresh() {
    const rows = await get("/v1/margin-calls");
    fill(body, table([[t("fwd.call"), (c) => c.call_id], [t("fund.member"), (c) => c.member],
      [t("fwd.callAmount"), (c) => yuan(c.amount), true], [t("fwd.deadline"), (c) => c.deadline],
      [t("loan.state"), (c) => h("span", {class: "badge " + (c.state === "open" ? "bad" : "")}, t("call." + c.state))]],
      rows.sort((a, b) => b.call_id - a.call_id)));
  }
  const el = panel(t("fwd.calls"), body, {tools: h("button", {class: "small", onclick: () => refresh()}, t("refresh"))});
  el.refresh = () => refresh().catch(() => {});
  el.refresh();
  return el;
}

/** A forward's delivery: tenders, intents, allocation lines; clearing allocates once. */
export function deliveryPanel() {
  const pick = h("select", {"data-testid": "delivery-symbol"});
  const body = h("div", {class: "scroll", "data-testid": "delivery"});
  const err = h("div", {class: "formerr", "data-error-for": "_form"});
  async function symbols() {
    const found = [];
    for (const i of await get("/v1/instruments")) {
      try { await get(`/v1/delivery/${i.symbol}/allocation`); found.push(i.symbol); } catch { /* not a margined forward */ }
    }
    fill(pick, found.map((s) => h("option", {value: s}, s)));
    show();
  }
  async function show() {
    fill(err);
    if (!pick.value) { fill(body, h("p", {class: "muted"}, t("empty"))); return; }
    const a = await get(`/v1/delivery/${pick.value}/allocation`);
    fill(body, h("div", {class: "kv"},
        h("span", {class: "muted"}, t("dlv.state")), h("span", {"data-testid": "delivery-state"}, t("dlv." + a.state)),
        h("span", {class: "muted"}, t("dlv.deadlines")), h("span", {}, `${a.last_trading_day} · ${a.tender_deadline} · ${a.payment_deadline}`),
        h("span", {class: "muted"}, t("dlv.final")), h("span", {class: "num"}, yuan(a.final_price)),
        h("span", {class: "muted"}, t("dlv.tendered")), h("span", {class: "num"}, int(a.tenders.reduce((n, x) => n + x.lots, 0)))),
      table([[t("dlv.line"), (l) => l.line_id], [t("dlv.short"), (l) => l.short], [t("dlv.long"), (l) => l.long],
             [t("order.qty"), (l) => int(l.lots), true], [t("receipt.id"), (l) => l.receipt_id || "—"],
             [t("receipt.value"), (l) => yuan(l.value), true], [t("loan.state"), (l) => l.state]], [...a.rolled, ...a.lines]));
  }
  async function allocate() {
    try { await call("POST", `/v1/clearing/delivery/${pick.value}/allocate`); show(); } catch (e) { err.textContent = errorText(e); }
  }
  pick.addEventListener("change", show);
  const el = panel(t("dlv.title"), [h("div", {class: "row", style: "display:flex;gap:8px;margin-bottom:6px"}, pick,
    h("button", {class: "small", "data-testid": "allocate", onclick: allocate}, t("dlv.allocate"))), err, body], {});
  el.refresh = () => symbols().catch(() => {});
  el.refresh();
  return el;
}
