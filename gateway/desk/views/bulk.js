// Bulk supply for buyers (竞价挂牌): the listings to take (摘牌) or counter-offer, and the live
// auction room — each lot's best price, bid count and countdown (ticking here from the server's
// close time, corrected by every update), a bid form per lot (price ≥ best + increment), and the
// member's own bids, outbids, wins, bonds and payment deadlines from its private stream.
import {call, get} from "../api.js";
import {t} from "../i18n.js";
import {fen, fill, fromFen, h, int, yuan} from "../util.js";
import {clearErrors, confirmModal, formError, panel, showError, table} from "./common.js";

export const COMMODITIES = ["cotton", "urea", "scrap_steel"];

/** "R1, R2 R3" -> ["R1", "R2", "R3"]. */
export function receiptList(text) { return text.split(/[\s,，;；]+/).map((s) => s.trim()).filter(Boolean); }

function mmss(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return (hh ? hh + ":" : "") + String(mm).padStart(hh ? 2 : 1, "0") + ":" + String(ss).padStart(2, "0");
}

/** Countdowns: every [data-close] element ticks down to its close, on the server's clock as
 *  estimated from the last update's ``countdown_ms`` (server now = close − countdown). */
export function countdowns() {
  let skew = 0;  // server clock − browser clock, ms
  const tick = () => {
    const now = Date.now() + skew;
    for (const el of document.querySelectorAll("[data-close]")) {
      const open = el.dataset.state === "open";
      const left = Number(el.dataset.close) - now;
      el.textContent = open ? mmss(left) : t("lot." + el.dataset.state);
      el.classList.toggle("down", open && left < 60_000);
    }
  };
  const timer = setInterval(tick, 250);
  return {
    note(m) { if (m.countdown_ms !== undefined && m.state === "open") skew = m.close_ms - m.countdown_ms - Date.now(); },
    tick, stop() { clearInterval(timer); },
  };
}

function countdownCell(l) {
  return h("span", {class: "num countdown", "data-testid": "countdown", "data-close": l.close_ms, "data-state": l.state});
}

/** A read-only table of lots (the publisher's view). */
export function auctionLots(lots, ticker) {
  lots.forEach((l) => ticker.note(l));
  const el = table([
    [t("lot.no"), (l) => l.lot_no], [t("receipt.kg"), (l) => (l.kg ? int(l.kg) : "—"), true],
    [t("auction.floor"), (l) => yuan(l.floor), true],
    [t("lot.best"), (l) => h("span", {"data-testid": "lot-best"}, yuan(l.best)), true],
    [t("lot.bids"), (l) => h("span", {"data-testid": "lot-bids"}, l.bids), true],
    [t("lot.countdown"), countdownCell, true],
  ], lots, {rowAttrs: (l) => ({"data-lot": l.lot_no})});
  queueMicrotask(ticker.tick);
  return el;
}

const NOTICE_MONEY = ["price", "value", "bond"];

/** The member's own auction and listing messages from the private stream, newest first. */
export function privatePanel(live) {
  const list = h("ul", {class: "notices", "data-testid": "my-notices"});
  const off = live ? live.onPrivate((m) => {
    if (m.type !== "auction" && m.type !== "listing") return;
    const n = m[m.type];
    const vars = Object.fromEntries(Object.entries(n).map(([k, v]) => [k, NOTICE_MONEY.includes(k) ? yuan(v) : v]));
    list.prepend(h("li", {"data-notice": n.type}, t("notice." + n.type, vars)));
  }) : () => {};
  return {el: panel(t("notices.title"), list, {testid: "notices"}), stop: off};
}

export function mount(root, {live, session}) {
  const ticker = countdowns();
  const listingsBody = h("div", {class: "scroll"});
  const auctionsBody = h("div", {class: "scroll"});
  const room = h("div", {"data-testid": "auction-room"}, h("p", {class: "muted"}, t("room.pick")));
  let roomOff = () => {}, roomId = null, rows = new Map(), increment = "0";

  async function loadListings() {
    const rows = (await get("/v1/listings?side=sell")).filter((l) => l.owner !== session.member);
    fill(listingsBody, table([
      [t("listing.id"), (l) => l.listing_id], [t("receipt.commodity"), (l) => t("commodity." + l.commodity)],
      [t("listing.receipts"), (l) => l.receipt_ids.join(", ")], [t("receipt.kg"), (l) => int(l.kg), true],
      [t("listing.price"), (l) => (l.forward ? `${l.forward} ${yuan(l.basis)} → ` : "") + yuan(l.price_today), true],
      ["", listingActions],
    ], rows, {rowAttrs: (l) => ({"data-listing": l.listing_id}), empty: t("listing.none")}));
  }

  function listingActions(l) {
    const price = h("input", {class: "num small", inputmode: "decimal", "data-testid": "counter-price", "data-field": "price"});
    const form = h("form", {class: "row", "data-testid": "listing-actions"},
      h("button", {type: "button", class: "primary small", "data-testid": "take", onclick: async () => {
        if (!await confirmModal(t("listing.takeConfirm", {id: l.listing_id, price: yuan(l.price_today)}))) return;
        clearErrors(form);
        try { await call("POST", `/v1/listings/${l.listing_id}/take`, {}); loadListings(); }
        catch (err) { showError(form, err); }
      }}, t("listing.take")),
      price, h("button", {type: "submit", class: "small", "data-testid": "counter"}, t("listing.counter")),
      h("div", {class: "err", "data-error-for": "price"}), formError());
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault(); clearErrors(form);
      try { await call("POST", `/v1/listings/${l.listing_id}/counter-offers`, {price: price.value.trim()}); price.value = ""; }
      catch (err) { showError(form, err); }
    });
    return form;
  }

  async function loadAuctions() {
    const list = (await get("/v1/auctions?state=open")).filter((a) => a.side === "sell");
    fill(auctionsBody, table([
      [t("auction.id"), (a) => a.auction_id], [t("receipt.commodity"), (a) => t("commodity." + a.commodity)],
      [t("auction.lots"), (a) => a.lots.length, true], [t("auction.increment"), (a) => yuan(a.increment), true],
      [t("auction.bidders"), (a) => a.bidders, true],
    ], list, {rowAttrs: (a) => ({class: "clickable", "data-auction": a.auction_id, onclick: () => openRoom(a.auction_id)}),
              empty: t("auction.none")}));
  }

  function minimum(l) {
    return l.best ? fromFen(fen(l.best) + fen(increment)) : l.floor;
  }

  function update(m) {
    const r = rows.get(m.lot_no);
    if (!r) return;
    Object.assign(r.lot, m);
    ticker.note(m);
    r.best.textContent = yuan(r.lot.best); r.bids.textContent = r.lot.bids;
    r.countdown.dataset.close = r.lot.close_ms; r.countdown.dataset.state = r.lot.state;
    r.min.textContent = "≥ " + yuan(minimum(r.lot));
    r.form.hidden = r.lot.state !== "open";
    ticker.tick();
  }

  async function openRoom(id) {
    roomOff(); roomId = id;
    const a = await get(`/v1/auctions/${id}`);
    increment = a.increment; rows = new Map();
    const body = h("tbody");
    for (const l of a.lots) {
      const r = {lot: {...l}, best: h("span", {"data-testid": "lot-best"}), bids: h("span", {"data-testid": "lot-bids"}),
                 countdown: countdownCell(l), min: h("span", {class: "muted", "data-testid": "lot-min"})};
      const price = h("input", {class: "num", inputmode: "decimal", "data-testid": "bid-price", "data-field": "price"});
      r.form = h("form", {class: "row", "data-testid": "bid-form"}, price,
        h("button", {class: "primary small", type: "submit", "data-testid": "bid-submit"}, t("room.bid")),
        h("div", {class: "err", "data-error-for": "price", "data-testid": "bid-error"}), formError());
      r.form.addEventListener("submit", async (ev) => {
        ev.preventDefault(); clearErrors(r.form);
        try {
          await call("POST", `/v1/auctions/${id}/lots/${l.lot_no}/bids`, {price: price.value.trim()});
          price.value = "";
        } catch (err) { showError(r.form, err); }
      });
      rows.set(l.lot_no, r);
      body.append(h("tr", {"data-lot": l.lot_no}, h("td", {}, l.lot_no), h("td", {}, l.receipt_ids.join(", ")),
        h("td", {class: "num"}, int(l.kg)), h("td", {class: "num"}, yuan(l.floor)), h("td", {class: "num"}, r.best),
        h("td", {class: "num"}, r.bids), h("td", {class: "num"}, r.countdown), h("td", {}, r.min, r.form)));
      update(l);
    }
    fill(room, h("h3", {"data-testid": "room-title"}, `${t("auction.no", {id})} · ${t("commodity." + a.commodity)} · ${t("auction.increment")} ${yuan(a.increment)}`),
      h("table", {}, h("thead", {}, h("tr", {}, [t("lot.no"), t("listing.receipts"), t("receipt.kg"), t("auction.floor"),
        t("lot.best"), t("lot.bids"), t("lot.countdown"), t("room.yourBid")].map((x) => h("th", {}, x)))), body));
    const onMsg = (m) => {
      if (m.type === "auctions_snapshot") m.lots.forEach(update);
      else if (m.type === "auction_lot") update(m);
    };
    roomOff = live ? live.subscribe(`auction.${id}`, onMsg) : () => {};
  }

  const onAll = (m) => { if (m.type === "auction_published" || m.type === "auction_ended") loadAuctions();
                         if (m.type === "listing") loadListings(); };
  const offAll = live ? live.subscribe("auctions", onAll) : () => {};
  const resync = () => { loadListings(); loadAuctions(); if (roomId) openRoom(roomId); };
  window.addEventListener("resync", resync);
  const {el: activity, stop} = privatePanel(live);
  fill(root, h("div", {class: "grid two"},
    h("div", {class: "wide"}, panel(t("listing.market"), listingsBody, {testid: "listings",
      tools: [h("button", {class: "small", onclick: loadListings}, t("refresh"))]})),
    panel(t("auction.open"), auctionsBody, {testid: "auctions", tools: [h("button", {class: "small", onclick: loadAuctions}, t("refresh"))]}),
    activity,
    h("div", {class: "wide"}, panel(t("room.title"), room, {testid: "auction-room-panel"}))));
  loadListings(); loadAuctions();
  return () => { roomOff(); offAll(); stop(); ticker.stop(); window.removeEventListener("resync", resync); };
}
