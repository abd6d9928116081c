// The supplier's desk: its receipts; post a listing (挂牌: a fixed price, or a basis over a
// forward's settlement price of the day); publish a sell auction of receipt lots (竞卖) and watch
// its lots live; its own listings with the counter-offers received (accept or decline).
import {call, get} from "../api.js";
import {t} from "../i18n.js";
import {fill, h, int, yuan} from "../util.js";
import {field, formError, panel, receiptsPanel, submitForm, table} from "./common.js";
import {auctionLots, COMMODITIES, countdowns, privatePanel, receiptList} from "./bulk.js";

export function mount(root, {live, session}) {
  const ticker = countdowns();
  const receipts = receiptsPanel();
  const mine = h("div", {class: "scroll", "data-testid": "my-auctions"});
  const myListings = h("div", {class: "scroll", "data-testid": "my-listings"});
  const lots = new Map();  // "auction/lot" -> lot message
  let auctions = [];

  async function loadMine() {
    auctions = (await get("/v1/auctions")).filter((a) => a.publisher === session.member);
    for (const a of auctions) for (const l of a.lots) lots.set(`${a.auction_id}/${l.lot_no}`, {...l, auction_id: a.auction_id});
    renderMine();
    const listings = (await get("/v1/listings?state=all")).filter((l) => l.owner === session.member);
    fill(myListings, table([
      [t("listing.id"), (l) => l.listing_id], [t("receipt.commodity"), (l) => t("commodity." + l.commodity)],
      [t("listing.receipts"), (l) => l.receipt_ids.join(", ")], [t("receipt.kg"), (l) => int(l.kg), true],
      [t("listing.price"), (l) => l.forward ? `${l.forward} ${yuan(l.basis)} → ${yuan(l.price_today)}` : yuan(l.price), true],
      [t("listing.state"), (l) => h("span", {class: "badge", "data-testid": "listing-state"}, t("lstate." + l.state))],
      [t("listing.counters"), (l) => l.counters.filter((c) => c.state === "open").map((c) => h("div", {class: "row"},
        `${c.buyer || "—"} ${yuan(c.price)} `,
        h("button", {class: "small", "data-testid": "counter-accept",
                     onclick: () => answer(l, c, "accept")}, t("listing.accept")),
        h("button", {class: "small", onclick: () => answer(l, c, "decline")}, t("listing.decline"))))],
    ], listings.reverse(), {rowAttrs: (l) => ({"data-listing": l.listing_id})}));
  }

  async function answer(l, c, how) {
    await call("POST", `/v1/listings/${l.listing_id}/counter-offers/${c.counter_no}/${how}`);
    loadMine(); receipts.refresh();
  }

  function renderMine() {
    fill(mine, auctions.length ? auctions.slice().reverse().map((a) => h("div", {"data-auction": a.auction_id},
      h("h4", {}, `${t("auction.no", {id: a.auction_id})} · ${t("commodity." + a.commodity)} · ${t("auction.increment")} ${yuan(a.increment)}`),
      auctionLots(a.lots.map((l) => lots.get(`${a.auction_id}/${l.lot_no}`) || l), ticker))) : h("p", {class: "muted"}, t("empty")));
  }

  function onLot(m) {
    const merge = (l) => { const k = `${l.auction_id}/${l.lot_no}`; lots.set(k, {...lots.get(k), ...l}); };
    if (m.type === "auctions_snapshot") m.lots.forEach(merge);
    else if (m.type === "auction_lot") merge(m);
    else if (m.type === "auction_published" || m.type === "listing") { loadMine(); return; }
    else return;
    renderMine();
  }

  const off = [live ? live.subscribe("auctions", onLot) : () => {}];
  const resync = () => loadMine();
  window.addEventListener("resync", resync);
  const {el: activity, stop} = privatePanel(live);
  fill(root, h("div", {class: "grid two"}, h("div", {class: "wide"}, receipts),
    listingForm(() => { loadMine(); receipts.refresh(); }),
    auctionForm(() => { loadMine(); receipts.refresh(); }),
    h("div", {class: "wide"}, panel(t("auction.mine"), mine, {testid: "my-auctions-panel"})),
    h("div", {class: "wide"}, panel(t("listing.mine"), myListings)), h("div", {class: "wide"}, activity)));
  loadMine();
  return () => { off.forEach((f) => f()); stop(); ticker.stop(); window.removeEventListener("resync", resync); };
}

function commoditySelect() {
  return h("select", {"data-testid": "commodity"}, COMMODITIES.map((c) => h("option", {value: c}, t("commodity." + c))));
}

/** 挂牌: receipts, and a fixed price or a basis over a forward month. */
function listingForm(done) {
  const commodity = commoditySelect();
  const ids = h("input", {placeholder: "R1, R2", "data-testid": "listing-receipts"});
  const mode = h("select", {"data-testid": "listing-mode"}, h("option", {value: "fixed"}, t("listing.fixed")),
                 h("option", {value: "basis"}, t("listing.basis")));
  const price = h("input", {class: "num", inputmode: "decimal", "data-testid": "listing-price"});
  const months = h("datalist", {id: "listing-forwards"});
  const forward = h("input", {list: "listing-forwards", "data-testid": "listing-forward"});
  // the forward months listed now (commodity + yymm) are suggested, the first in order as the placeholder
  get("/v1/instruments").then((rows) => {
    const listed = rows.map((i) => i.symbol).filter((s) => /^[A-Z]+[0-9]{4}$/.test(s)).sort();
    fill(months, listed.map((s) => h("option", {value: s})));
    if (listed.length) forward.placeholder = listed[0];
  }, () => {});
  const basis = h("input", {class: "num", inputmode: "decimal", placeholder: "-150.00", "data-testid": "listing-basis"});
  const result = h("div", {class: "muted", "data-testid": "listing-result"});
  const basisRows = h("div", {hidden: true}, field("forward", t("listing.forward"), forward), months, field("basis", t("listing.basisAmount"), basis));
  const priceRows = h("div", {}, field("price", t("listing.price"), price));
  mode.addEventListener("change", () => { basisRows.hidden = mode.value !== "basis"; priceRows.hidden = mode.value === "basis"; });
  const form = h("form", {class: "stack", "data-testid": "listing-form"},
    field("commodity", t("receipt.commodity"), commodity), field("receipt_ids", t("listing.receipts"), ids),
    field("mode", t("listing.mode"), mode), priceRows, basisRows, formError(),
    h("button", {class: "primary", type: "submit", "data-testid": "listing-submit"}, t("listing.post")), result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {side: "sell", commodity: commodity.value, receipt_ids: receiptList(ids.value)};
    if (mode.value === "fixed") body.price = price.value.trim();
    else {
      const b = basis.value.trim();
      Object.assign(body, {forward: forward.value.trim(), basis: b.replace(/^[-+]/, ""), basis_sign: b.startsWith("-") ? "-" : "+"});
    }
    const out = await submitForm(form, "POST", "/v1/listings", body);
    if (out) { result.textContent = t("listing.posted", {id: out.listing_id}); ids.value = ""; done(); }
  });
  return panel(t("listing.new"), form, {testid: "listing-panel"});
}

/** 竞卖: lots of receipts (one lot a line), a floor (or base price + premium), increment, times. */
function auctionForm(done) {
  const commodity = commoditySelect();
  const lots = h("textarea", {rows: 3, placeholder: "R1, R2\nR3", "data-testid": "auction-lots"});
  const floor = h("input", {class: "num", inputmode: "decimal", "data-testid": "auction-floor"});
  const increment = h("input", {class: "num", inputmode: "decimal", value: "10.00", "data-testid": "auction-increment"});
  const minutes = h("input", {class: "num", inputmode: "numeric", value: "30", "data-testid": "auction-minutes"});
  const extend = h("input", {class: "num", inputmode: "numeric", value: "60", "data-testid": "auction-extend"});
  const result = h("div", {class: "muted", "data-testid": "auction-result"});
  const form = h("form", {class: "stack", "data-testid": "auction-form"},
    field("commodity", t("receipt.commodity"), commodity), field("lots", t("auction.lotsHint"), lots),
    field("floor", t("auction.floor"), floor), field("increment", t("auction.increment"), increment),
    field("closes_at_ms", t("auction.minutes"), minutes), field("extend_seconds", t("auction.extend"), extend),
    formError(), h("button", {class: "primary", type: "submit", "data-testid": "auction-submit"}, t("auction.publish")), result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const now = Date.now(), f = floor.value.trim();
    const body = {side: "sell", commodity: commodity.value, opens_at_ms: now,
                  closes_at_ms: now + Math.round(Number(minutes.value) * 60_000), increment: increment.value.trim(),
                  extend_seconds: Number(extend.value) || 0,
                  lots: lots.value.split("\n").map(receiptList).filter((r) => r.length)
                    .map((receipt_ids) => (f ? {receipt_ids, floor: f} : {receipt_ids}))};
    const out = await submitForm(form, "POST", "/v1/auctions", body);
    if (out) { result.textContent = t("auction.published", {id: out.auction_id}); lots.value = ""; done(); }
  });
  return panel(t("auction.new"), form, {testid: "auction-panel"});
}
