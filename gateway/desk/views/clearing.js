// The clearing desk: deposits and withdrawals, members' cash, end of day with its report (CSV
// download), reconciliation. Margin calls, defaults and delivery allocation come with forwards.
import {call, get} from "../api.js";
import {errorText, t} from "../i18n.js";
import {fill, h, int, randomId, yuan} from "../util.js";
import {field, formError, panel, submitForm, table} from "./common.js";
import {deliveryPanel, marginCallsPanel} from "./forwards.js";

export function mount(root) {
  const accountsBody = h("div", {class: "scroll", "data-testid": "accounts"});
  const eodBody = h("div", {"data-testid": "eod"});
  const reconBody = h("div", {"data-testid": "reconcile"});
  const member = h("select", {"data-testid": "fund-member"});
  const amount = h("input", {class: "num", inputmode: "decimal", "data-testid": "fund-amount"});
  const reference = h("input", {value: randomId("ref-").slice(0, 16), "data-testid": "fund-reference"});
  const result = h("div", {class: "ok", "data-testid": "fund-result"});
  const fund = h("form", {class: "stack", "data-testid": "funding-form"},
    field("member", t("fund.member"), member), field("amount", t("fund.amount"), amount),
    field("reference", t("fund.reference"), reference), formError(),
    h("div", {class: "row", style: "display:flex;gap:8px"},
      h("button", {type: "button", class: "primary", "data-testid": "deposit", onclick: () => move("deposits")}, t("fund.deposit")),
      h("button", {type: "button", "data-testid": "withdraw", onclick: () => move("withdrawals")}, t("fund.withdraw"))), result);

  async function move(kind) {
    result.textContent = "";
    const a = await submitForm(fund, "POST", `/v1/clearing/${kind}`,
                               {member: member.value, amount: amount.value.trim(), reference: reference.value.trim()});
    if (a) {
      result.textContent = t("fund.done", {kind: t("fund." + a.kind), amount: yuan(a.amount), member: a.member, available: yuan(a.available)});
      reference.value = randomId("ref-").slice(0, 16);
      loadAccounts();
    }
  }

  async function loadAccounts() {
    const rows = await get("/v1/accounts");
    fill(accountsBody, table([[t("fund.member"), (b) => b.member], [t("balance.available"), (b) => yuan(b.available), true],
      [t("balance.held"), (b) => yuan(b.held), true], [t("balance.margin"), (b) => yuan(b.margin), true]], rows,
      {rowAttrs: (b) => ({"data-member": b.member})}));
  }

  async function loadMembers() {
    const rows = await get("/v1/admin/members");
    fill(member, rows.map((m) => h("option", {value: m.member}, m.member)));
  }

  async function endOfDay() {
    eodBody.querySelector("[data-error-for]")?.replaceChildren();
    try {
      const report = await call("POST", "/v1/clearing/end-of-day", {});
      showReport(report);
      loadAccounts(); reconcile();
    } catch (err) { fill(eodBody, h("div", {class: "formerr", "data-error-for": "_form"}, errorText(err))); }
  }

  function showReport(report) {
    const rows = report.rows || report.members || [];
    fill(eodBody, h("p", {"data-testid": "eod-day"}, t("eod.closed", {day: report.day ?? "?"})),
      rows.length ? table(Object.keys(rows[0]).slice(0, 6).map((k) => [k, (r) => typeof r[k] === "object" ? JSON.stringify(r[k]) : r[k]]), rows) : null,
      h("button", {class: "primary", "data-testid": "download-csv", onclick: () => download(report.day ?? "latest")}, t("eod.csv")));
  }

  async function download(day) {
    const resp = await call("GET", `/v1/clearing/reports/${day}?format=csv`, undefined, {raw: true});
    const blob = await resp.blob();
    const a = h("a", {href: URL.createObjectURL(blob), download: `settlement-day-${day}.csv`});
    document.body.append(a); a.click(); a.remove();
  }

  async function reconcile() {
    fill(reconBody, t("loading"));
    try {
      const r = await get("/v1/clearing/reconcile");
      fill(reconBody, h("p", {}, h("span", {class: "badge " + (r.clean ? "good" : "bad"), "data-testid": "recon-status", "data-clean": String(r.clean)},
                                    r.clean ? t("recon.clean") : t("recon.breaks", {n: r.breaks.length}))),
        h("div", {class: "kv"}, h("span", {class: "muted"}, t("recon.entry")), h("span", {class: "num"}, int(r.entry_no)),
          h("span", {class: "muted"}, t("recon.checks")), h("span", {}, r.checks.join(", "))),
        r.breaks.length ? table([["", (b) => JSON.stringify(b)]], r.breaks) : null);
    } catch (err) { fill(reconBody, errorText(err)); }
  }

  fill(root, h("div", {class: "grid two"},
    panel(t("fund.title"), fund, {testid: "funding"}),
    panel(t("recon.title"), reconBody, {tools: h("button", {class: "small", "data-testid": "reconcile-run", onclick: reconcile}, t("refresh"))}),
    panel(t("eod.title"), eodBody, {tools: h("button", {class: "primary small", "data-testid": "run-eod", onclick: endOfDay}, t("eod.run"))}),
    panel(t("accounts.title"), accountsBody),
    marginCallsPanel(), deliveryPanel()));
  loadMembers(); loadAccounts(); reconcile();
  return () => {};
}
