// The trader's desk: instruments, ladder (depth 10, click to prefill), depth chart, tape,
// candles, the order ticket, own orders (amend, cancel, cancel all), fills, balances, ledger,
// receipts. Live from /v1/ws; refetched after a reconnect.
import {call, get} from "../api.js";
import {CandlestickSeries, createChart} from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import {errorText, t} from "../i18n.js";
import {LocalBook} from "../live.js";
import {change, fen, fill, h, int, perFrame, randomId, time, yuan} from "../util.js";
import {clearErrors, confirmModal, field, formError, panel, receiptsPanel, showError, table} from "./common.js";
import {positionsPanel} from "./forwards.js";

const DEPTH = 10;
const LARGE_NOTIONAL_FEN = 500_000_000n;  // 5,000,000 yuan: larger orders ask for confirmation
const OPEN = (o) => !["FILLED", "CANCELED", "REJECTED", "EXPIRED"].includes(o.status);

export function mount(root, {live}) {
  const state = {symbol: null, instruments: [], stats: {}, tickers: {}, book: new LocalBook(), trades: [],
                 orders: new Map(), fills: [], interval: "1m"};
  const off = [];
  let frame = 0, gone = false;

  // ------------------------------------------------------------ layout
  const instrumentsBody = h("div", {class: "scroll"});
  const ladderBody = h("div", {"data-testid": "ladder"});
  const depthCanvas = h("canvas", {class: "depth", width: 600, height: 120});
  const tapeBody = h("div", {class: "scroll", "data-testid": "tape"});
  const chartEl = h("div", {class: "chart", "data-testid": "candles"});
  const ordersBody = h("div", {class: "scroll", "data-testid": "open-orders"});
  const fillsBody = h("div", {class: "scroll", "data-testid": "fills"});
  const balancesBody = h("div", {"data-testid": "balances"});
  const ledgerBody = h("div", {class: "scroll", "data-testid": "ledger"});
  const title = h("span", {"data-testid": "symbol"});
  const intervals = ["1m", "1h", "1d"].map((iv) => h("button", {class: "small" + (iv === state.interval ? " on" : ""), "data-interval": iv,
    onclick: () => { state.interval = iv; intervals.forEach((b) => b.classList.toggle("on", b.dataset.interval === iv)); loadCandles(); }}, t("interval." + iv)));
  const ticket = orderTicket();
  const tabsBodies = {orders: ordersBody, fills: fillsBody, ledger: ledgerBody};
  const tabBar = h("div", {class: "tabs"}, Object.keys(tabsBodies).map((k) => h("button", {"data-tab": k, "data-testid": "tab-" + k,
    class: k === "orders" ? "on" : "", onclick: () => showTab(k)}, t("tab." + k))));
  const tabArea = h("div", {}, ordersBody);
  const receipts = receiptsPanel(), forwards = positionsPanel();
  fill(root, h("div", {class: "grid trader"},
    panel(t("instruments.title"), instrumentsBody, {testid: "instruments"}),
    h("div", {class: "grid"},
      panel([title, " ", t("ladder.title")], [ladderBody, depthCanvas], {testid: "book"}),
      panel(t("candles.title"), chartEl, {tools: h("span", {class: "tabs"}, intervals)})),
    h("div", {class: "grid"}, panel(t("ticket.title"), ticket.form, {testid: "ticket"}),
      panel(t("balances.title"), balancesBody), panel(t("tape.title"), tapeBody)),
    panel(t("myorders.title"), [tabBar, tabArea], {cls: "wide", testid: "orders-panel",
      tools: h("button", {class: "small", "data-testid": "cancel-all", onclick: cancelAll}, t("orders.cancelAll"))}),
    h("div", {class: "wide grid two"}, receipts, forwards)));

  function showTab(k) {
    for (const b of tabBar.children) b.classList.toggle("on", b.dataset.tab === k);
    fill(tabArea, tabsBodies[k]);
    if (k === "ledger") loadLedger();
  }

  // ------------------------------------------------------------ chart
  const chart = createChart(chartEl, {autoSize: true, layout: {background: {color: "#fff"}, textColor: "#333"},
    timeScale: {timeVisible: true, secondsVisible: false}, localization: {priceFormatter: (p) => yuan(p.toFixed(2))}});
  const up = getComputedStyle(document.body).getPropertyValue("--up").trim(), down = getComputedStyle(document.body).getPropertyValue("--down").trim();
  const candles = chart.addSeries(CandlestickSeries, {upColor: up, downColor: down, borderUpColor: up, borderDownColor: down,
                                                      wickUpColor: up, wickDownColor: down});
  let candleTimer = null;
  async function loadCandles() {
    if (!state.symbol) return;
    const rows = await get(`/v1/market/candles/${state.symbol}?interval=${state.interval}&limit=500`);
    if (gone) return;  // unmounted meanwhile: the chart is disposed
    const local = -new Date().getTimezoneOffset() * 60;  // the chart draws UTC: shift to the user's clock (Beijing)
    candles.setData(rows.map((c) => ({time: Math.floor(c.start_ns / 1e9) + local, open: +c.open, high: +c.high, low: +c.low, close: +c.close})));
    chartEl.dataset.count = rows.length;
  }
  const candlesSoon = () => { if (!candleTimer) candleTimer = setTimeout(() => { candleTimer = null; loadCandles(); }, 500); };

  // ------------------------------------------------------------ instruments and tickers
  async function loadInstruments() {
    state.instruments = await get("/v1/instruments");
    await Promise.all(state.instruments.map(async (i) => {
      try { state.stats[i.symbol] = await get(`/v1/market/stats/${i.symbol}`); } catch { state.stats[i.symbol] = null; }
    }));
    if (!state.symbol && state.instruments.length) select(state.instruments[0].symbol);
    for (const i of state.instruments) off.push(live.subscribe("ticker." + i.symbol, onTicker));
    renderInstruments();
  }

  const instrumentsSoon = perFrame(() => renderInstruments());
  function renderInstruments() {
    const last = (i) => state.tickers[i.symbol]?.last ?? state.stats[i.symbol]?.close ?? null;
    const volume = (i) => state.tickers[i.symbol]?.volume ?? state.stats[i.symbol]?.volume_lots ?? 0;
    fill(instrumentsBody, table([
      [t("instrument.symbol"), (i) => i.symbol],
      [t("instrument.last"), (i) => { const c = change(last(i), i.ref_price); return h("span", {class: c.cls}, yuan(last(i))); }, true],
      [t("instrument.change"), (i) => { const c = change(last(i), i.ref_price); return h("span", {class: c.cls}, c.text); }, true],
      [t("instrument.volume"), (i) => int(volume(i)), true],
      [t("instrument.session"), (i) => t("session." + i.session)],
    ], state.instruments, {rowAttrs: (i) => ({class: "clickable" + (i.symbol === state.symbol ? " sel" : ""), "data-symbol": i.symbol,
                                               onclick: () => select(i.symbol)})}));
  }

  function onTicker(m) {
    if (m.type !== "ticker") return;
    state.tickers[m.channel.slice(7)] = m;
    instrumentsSoon();
  }

  // ------------------------------------------------------------ book, ladder, depth
  let unBook = null, unTrades = null;
  function select(symbol) {
    if (symbol === state.symbol) return;
    state.symbol = symbol;
    title.textContent = symbol;
    ticket.setSymbol(symbol);
    if (unBook) unBook(); if (unTrades) unTrades();
    state.book = new LocalBook();
    unBook = live.subscribe("book." + symbol, (m) => { state.book.apply(m); schedule(); });
    unTrades = live.subscribe("trades." + symbol, (m) => { if (m.type !== "trades") return; state.trades = [...m.trades.reverse(), ...state.trades].slice(0, 100); renderTape(); candlesSoon(); });
    loadBook(); loadTape(); loadCandles(); renderInstruments();
  }

  async function loadBook() {  // before the feed's snapshot arrives, and after a reconnect
    const b = await get(`/v1/book/${state.symbol}?depth=${DEPTH}`);
    const empty = !state.book.bids.size && !state.book.asks.size;  // the feed's full snapshot wins over these 10 levels
    if (b.symbol === state.symbol && (empty || b.seq > state.book.seq)) { state.book.apply({type: "snapshot", ...b}); schedule(); }
  }

  function schedule() { if (!frame) frame = requestAnimationFrame(() => { frame = 0; renderLadder(); }); }

  // the ladder's rows are made once and updated in place (cheap at a frame per feed update)
  const rowsOf = (side) => Array.from({length: DEPTH}, () => {
    const price = h("td", {class: "num " + side}, "\u00a0"), bar = h("span", {class: "fillbar"}), qty = h("td", {class: "num bar"});
    const tr = h("tr", {class: `${side} clickable`, "data-side": side, style: "visibility:hidden",
                         onclick: () => ticket.prefill(side === "ask" ? "buy" : "sell", tr.dataset.price)}, price, qty);
    return {tr, price, bar, qty};
  });
  const askRows = rowsOf("ask").reverse(), bidRows = rowsOf("bid"), mid = h("td", {colspan: 2});
  fill(ladderBody, h("table", {class: "ladder"},
    h("thead", {}, h("tr", {}, h("th", {class: "num"}, t("ladder.price")), h("th", {class: "num"}, t("ladder.qty")))),
    h("tbody", {}, [...askRows].reverse().map((r) => r.tr), h("tr", {class: "mid"}, mid), bidRows.map((r) => r.tr))));
  let depthDrawn = 0, depthTimer = 0;

  function renderLadder() {
    const {bids, asks} = state.book.levels(DEPTH);
    const max = Math.max(1, ...bids.map((l) => l[1]), ...asks.map((l) => l[1]));
    const put = (rows, levels) => rows.forEach((r, i) => {
      const level = levels[i];
      r.tr.style.visibility = level ? "" : "hidden";  // the ladder keeps its height: nothing else moves
      if (!level) { delete r.tr.dataset.price; return; }
      const [price, qty] = level;
      if (r.tr.dataset.price !== price) { r.tr.dataset.price = price; r.price.textContent = yuan(price); }
      r.bar.style.width = `${(100 * qty / max).toFixed(1)}%`;
      r.qty.replaceChildren(r.bar, int(qty));
    });
    put(askRows, asks); put(bidRows, bids);
    const spread = asks.length && bids.length ? yuan(((Number(fen(asks[0][0]) - fen(bids[0][0]))) / 100).toFixed(2)) : "—";
    mid.textContent = `${t("ladder.spread")} ${spread} · seq ${state.book.seq}`;
    ladderBody.dataset.seq = state.book.seq;
    const now = performance.now();
    if (now - depthDrawn > 200) { depthDrawn = now; drawDepth(bids, asks); }
    else if (!depthTimer) depthTimer = setTimeout(() => { depthTimer = 0; schedule(); }, 200);  // the last state too
  }

  function drawDepth(bids, asks) {
    const c = depthCanvas, g = c.getContext("2d"), W = c.width, H = c.height;
    g.clearRect(0, 0, W, H);
    const cum = (levels) => { let s = 0; return levels.map(([p, q]) => [Number(p), (s += q)]); };
    const b = cum(bids), a = cum(asks);
    if (!b.length && !a.length) return;
    const prices = [...b, ...a].map((x) => x[0]), lo = Math.min(...prices), hi = Math.max(...prices);
    const top = Math.max(1, ...b.map((x) => x[1]), ...a.map((x) => x[1]));
    const X = (p) => (hi === lo ? W / 2 : ((p - lo) / (hi - lo)) * (W - 20) + 10), Y = (q) => H - 4 - (q / top) * (H - 10);
    const css = getComputedStyle(document.body);
    for (const [pts, colour] of [[b, css.getPropertyValue("--up")], [a, css.getPropertyValue("--down")]]) {
      if (!pts.length) continue;
      g.beginPath(); g.moveTo(X(pts[0][0]), H - 4);
      for (const [p, q] of pts) g.lineTo(X(p), Y(q));
      g.lineTo(X(pts[pts.length - 1][0]), H - 4); g.closePath();
      g.globalAlpha = 0.25; g.fillStyle = colour; g.fill(); g.globalAlpha = 1; g.strokeStyle = colour; g.stroke();
    }
  }

  // ------------------------------------------------------------ tape
  async function loadTape() {
    const rows = await get(`/v1/trades/${state.symbol}?limit=50`);
    state.trades = rows.reverse();
    renderTape();
  }

  const tapeSoon = perFrame(() => renderTape());
  function renderTape() {
    fill(tapeBody, table([
      [t("tape.price"), (x) => h("span", {class: x.aggressor === "buy" ? "up" : "down"}, yuan(x.price)), true],
      [t("tape.qty"), (x) => int(x.quantity), true],
      [t("tape.side"), (x) => t("side." + x.aggressor)],
    ], state.trades.slice(0, 50)));
  }

  // ------------------------------------------------------------ own orders, fills, money
  async function loadOrders() {
    const rows = await get("/v1/orders?status=open");
    state.orders = new Map(rows.map((o) => [o.order_id, o]));
    renderOrders();
  }

  // not while the user edits an amend field: once focus leaves the table
  let ordersStale = false;
  const ordersSoon = perFrame(() => {
    if (ordersBody.contains(document.activeElement) && document.activeElement.tagName === "INPUT") ordersStale = true;
    else renderOrders();
  });
  ordersBody.addEventListener("focusout", (ev) => {
    if (ordersStale && !ordersBody.contains(ev.relatedTarget)) { ordersStale = false; ordersSoon(); }
  });
  function renderOrders() {
    const open = [...state.orders.values()].filter(OPEN).sort((a, b) => b.order_id - a.order_id);
    fill(ordersBody, table([
      [t("order.id"), (o) => o.order_id], [t("order.symbol"), (o) => o.symbol],
      [t("order.side"), (o) => h("span", {class: o.side === "buy" ? "up" : "down"}, t("side." + o.side))],
      [t("order.type"), (o) => `${t("otype." + o.type)} ${o.time_in_force}`],
      [t("order.price"), (o) => h("input", {class: "num", size: 9, value: o.price ?? "", "data-amend": "price"}), true],
      [t("order.qty"), (o) => h("input", {class: "num", size: 4, value: o.quantity, "data-amend": "quantity"}), true],
      [t("order.filled"), (o) => int(o.cum_qty), true], [t("order.status"), (o) => t("status." + o.status)],
      ["", (o) => h("span", {}, h("button", {class: "small", "data-testid": "amend", onclick: (ev) => amend(o, ev)}, t("order.amend")), " ",
                    h("button", {class: "small", "data-testid": "cancel", onclick: (ev) => cancel(o, ev)}, t("order.cancel")),
                    h("div", {class: "err", style: "margin:0", "data-error-for": "_row"}))],
    ], open, {rowAttrs: (o) => ({"data-order": o.order_id, "data-coid": o.client_order_id})}));
  }

  function rowError(ev, err) {
    const slot = ev.target.closest("tr").querySelector("[data-error-for='_row']");
    slot.textContent = errorText(err); slot.dataset.code = err.code;
  }

  async function amend(o, ev) {
    const tr = ev.target.closest("tr");
    const price = tr.querySelector("[data-amend=price]").value.trim(), qty = Number(tr.querySelector("[data-amend=quantity]").value);
    const body = {};
    if (price && price !== o.price) body.price = price;
    if (qty !== o.quantity) body.quantity = qty;
    try { track(await call("PATCH", `/v1/orders/${o.order_id}`, body)); } catch (err) { rowError(ev, err); }
  }

  async function cancel(o, ev) {
    try { track(await call("DELETE", `/v1/orders/${o.order_id}`)); } catch (err) { rowError(ev, err); }
  }

  async function cancelAll() {
    if (!await confirmModal(h("p", {}, t("orders.cancelAllConfirm")))) return;
    await call("POST", "/v1/orders/cancel-all", {});
    loadOrders();
  }

  function track(o) {
    if (o.order_id === null || o.order_id === undefined) return;
    const known = state.orders.get(o.order_id);
    if (!known || (o.seq || 0) >= (known.seq || 0)) state.orders.set(o.order_id, o);
    ordersSoon();
  }

  async function loadFills() {
    state.fills = (await get("/v1/fills?limit=100")).reverse();
    renderFills();
  }

  const fillsSoon = perFrame(() => renderFills());
  function renderFills() {
    fill(fillsBody, table([
      [t("order.id"), (f) => f.order_id], [t("fill.trade"), (f) => f.trade_id], [t("order.symbol"), (f) => f.symbol],
      [t("order.side"), (f) => h("span", {class: f.side === "buy" ? "up" : "down"}, t("side." + f.side))],
      [t("order.price"), (f) => yuan(f.price), true], [t("order.qty"), (f) => int(f.quantity), true],
    ], state.fills));
  }

  let forwardsTimer = null;
  const forwardsSoon = () => { if (!forwardsTimer) forwardsTimer = setTimeout(() => { forwardsTimer = null; forwards.refresh(); }, 200); };
  let moneyTimer = null;
  const moneySoon = () => { if (!moneyTimer) moneyTimer = setTimeout(() => { moneyTimer = null; loadBalances(); }, 150); };
  async function loadBalances() {
    const b = await get("/v1/accounts/me");
    fill(balancesBody, h("div", {class: "kv"},
      h("span", {class: "muted"}, t("balance.available")), h("span", {class: "num", "data-testid": "available"}, yuan(b.available)),
      h("span", {class: "muted"}, t("balance.held")), h("span", {class: "num", "data-testid": "held"}, yuan(b.held)),
      h("span", {class: "muted"}, t("balance.margin")), h("span", {class: "num"}, yuan(b.margin))));
  }

  async function loadLedger() {
    const rows = await get("/v1/ledger?limit=100");
    fill(ledgerBody, table([[t("when"), (l) => time(l.at)], [t("ledger.code"), (l) => l.code], [t("ledger.account"), (l) => l.account],
      [t("ledger.amount"), (l) => h("span", {class: l.amount.startsWith("-") ? "down" : "up"}, yuan(l.amount)), true],
      [t("ledger.ref"), (l) => l.ref], [t("ledger.counter"), (l) => l.counter_account]], rows));
  }

  off.push(live.onPrivate((m) => {
    if (m.type === "orders_snapshot") { for (const o of m.orders) track(o); }
    else if (m.type === "order") { track(m.order); moneySoon(); }
    else if (m.type === "fill") { state.fills.unshift(m.fill); fillsSoon(); moneySoon(); forwardsSoon(); }
    else if (m.type === "position" || m.type === "margin") { forwardsSoon(); moneySoon(); }
    else if (m.type === "loan" || m.type === "receipt") { receipts.refresh(); moneySoon(); }
  }));

  // ------------------------------------------------------------ the order ticket
  function orderTicket() {
    let side = "buy", symbol = null;
    const sideButtons = ["buy", "sell"].map((s) => h("button", {type: "button", class: `toggle ${s}` + (s === side ? " on" : ""),
      "data-side": s, "data-testid": "side-" + s, onclick: () => setSide(s)}, t("side." + s)));
    const type = h("select", {"data-testid": "type"}, ["limit", "market"].map((v) => h("option", {value: v}, t("otype." + v))));
    const tif = h("select", {"data-testid": "tif"}, ["GTC", "DAY", "IOC", "FOK"].map((v) => h("option", {value: v}, `${v} · ${t("tif." + v)}`)));
    const price = h("input", {class: "num", inputmode: "decimal", "data-testid": "price"});
    const qty = h("input", {class: "num", inputmode: "numeric", value: "1", "data-testid": "quantity"});
    const display = h("input", {class: "num", inputmode: "numeric", placeholder: t("ticket.optional"), "data-testid": "display"});
    const minQty = h("input", {class: "num", inputmode: "numeric", placeholder: t("ticket.optional"), "data-testid": "min-qty"});
    const postOnly = h("input", {type: "checkbox", "data-testid": "post-only"});
    const stp = h("select", {}, ["cancel_newest", "cancel_oldest", "cancel_both"].map((v) => h("option", {value: v}, t("stp." + v))));
    const result = h("div", {class: "ok", "data-testid": "ticket-result"});
    const submit = h("button", {type: "submit", class: "buy", "data-testid": "submit-order"}, t("ticket.submit.buy"));
    const form = h("form", {class: "ticket", "data-testid": "ticket-form"},
      h("div", {class: "row"}, sideButtons),
      field("type", t("ticket.type"), type), field("time_in_force", t("ticket.tif"), tif),
      field("price", t("ticket.price"), price), field("quantity", t("ticket.qty"), qty),
      field("display_quantity", t("ticket.display"), display), field("min_quantity", t("ticket.minqty"), minQty),
      field("post_only", t("ticket.postonly"), postOnly), field("stp", t("ticket.stp"), stp),
      formError(), h("div", {class: "row"}, submit), result);
    type.addEventListener("change", () => {
      price.disabled = type.value === "market";
      if (type.value === "market" && !["IOC", "FOK"].includes(tif.value)) tif.value = "IOC";
    });
    function setSide(s) {
      side = s;
      sideButtons.forEach((b) => b.classList.toggle("on", b.dataset.side === s));
      submit.className = s; submit.textContent = t("ticket.submit." + s);
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(form); result.textContent = "";
      const body = {symbol, side, quantity: Number(qty.value), client_order_id: randomId("desk-"), type: type.value,
                    time_in_force: tif.value, post_only: postOnly.checked, stp: stp.value};
      if (type.value === "limit") body.price = price.value.trim();
      if (display.value.trim()) body.display_quantity = Number(display.value);
      if (minQty.value.trim()) body.min_quantity = Number(minQty.value);
      const inst = state.instruments.find((i) => i.symbol === symbol);
      const ref = body.price || state.book.levels(1)[side === "buy" ? "asks" : "bids"][0]?.[0] || inst?.ref_price || "0";
      const notional = (fen(ref) ?? 0n) * BigInt(Math.max(0, body.quantity | 0)) * BigInt(inst?.lot_size ?? 1000) / 1000n;
      if (notional >= LARGE_NOTIONAL_FEN || (inst && body.quantity > inst.max_limit_qty / 2)) {
        const ok = await confirmModal(h("div", {"data-testid": "large-order"}, h("h3", {}, t("ticket.large")),
          h("p", {}, t("ticket.largeText", {side: t("side." + side), qty: int(body.quantity), symbol, price: yuan(body.price || ref),
                                            notional: yuan((Number(notional) / 100).toFixed(2))}))));
        if (!ok) return;
      }
      try {
        const o = await call("POST", "/v1/orders", body);
        track(o);
        if (o.status === "REJECTED") showError(form, {code: o.reject_code, message: o.reject_code});
        else result.textContent = t("ticket.placed", {id: o.order_id, status: t("status." + o.status)});
      } catch (err) { showError(form, err); }
    });
    return {form, setSymbol: (s) => { symbol = s; }, prefill: (s, p) => { setSide(s); type.value = "limit"; price.disabled = false; price.value = p; qty.focus(); }};
  }

  // ------------------------------------------------------------ start, resync, stop
  function loadAll() {
    loadInstruments().catch(() => {}); loadOrders(); loadFills(); loadBalances();
    if (state.symbol) { loadBook(); loadTape(); loadCandles(); }
    receipts.refresh(); forwards.refresh();
  }
  const resync = () => loadAll();
  window.addEventListener("resync", resync);
  loadAll();
  return () => {
    gone = true;
    clearTimeout(candleTimer); clearTimeout(moneyTimer); clearTimeout(depthTimer); clearTimeout(forwardsTimer);
    for (const soon of [instrumentsSoon, tapeSoon, ordersSoon, fillsSoon]) soon.cancel();
    window.removeEventListener("resync", resync);
    for (const f of off) f();
    if (unBook) unBook(); if (unTrades) unTrades();
    if (frame) cancelAnimationFrame(frame);
    chart.remove();
  };
}
