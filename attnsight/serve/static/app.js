"use strict";
// The attnsight web page: every view calls the service's JSON API and renders the answer.
// Model and user strings only ever reach the page through textContent (see el()), never innerHTML.

const COUNTS = new Set(["users", "examples", "events", "positives"]);  // metrics.json sizes, not metrics
const items = new Map();  // item id → {title, category, popularity}, for readable item names

// ----------------------------------------------------------------------------- helpers

/** An element with properties (className, title, dataset, style variables) and text or element children. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("--")) node.style.setProperty(key, value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** GET (no body) or POST JSON; a 4xx/5xx becomes an Error carrying the API's detail message. */
async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)};
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new Error(`the service did not answer (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try { data = JSON.parse(text); } catch { /* a non-JSON error page: reported below */ }
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : text.slice(0, 200) || response.statusText;
    throw new Error(`${response.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return data;
}

const field = (view, name) => view.querySelector(`[data-field="${name}"]`);
const percent = (x, digits = 1) => `${(100 * x).toFixed(digits)}%`;
// a metric a bundle could not compute (ROC AUC of a test period without positives) arrives as null
const number = (x) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(3) : "—");

function showError(view, error) {
  const box = view.querySelector(".error");
  box.textContent = error ? `Error — ${error.message}` : "";
  box.hidden = !error;
}

/** Runs a view's action with a busy button, its errors shown in the view's error box. */
async function run(view, action) {
  const button = view.querySelector("button[type=submit]");
  showError(view, null);
  // an earlier answer must not stand under this request's error as if it were its result
  view.querySelectorAll(".result").forEach((result) => { result.hidden = true; });
  if (button) button.disabled = true;
  view.classList.add("busy");
  try {
    await action();
  } catch (error) {
    showError(view, error);
  } finally {
    if (button) button.disabled = false;
    view.classList.remove("busy");
  }
}

/** An attention or probability bar: a filled share of a fixed-width track, with its value. */
function bar(value, scale = 1, label = percent(value)) {
  return el("span", {className: "bar"},
    el("span", {className: "track"}, el("span", {className: "fill", "--w": Math.min(1, value / scale)})),
    el("span", {className: "value"}, label));
}

function itemName(id) {
  const info = items.get(id);
  const detail = [id, info && info.category].filter(Boolean).join(" · ");
  return info && info.title
    ? el("span", {className: "item"}, el("span", {}, info.title), el("small", {}, detail))
    : el("span", {className: "item"}, el("span", {}, detail));
}

// ----------------------------------------------------------------------------- users

async function recommend(view, form) {
  const body = {model: form.model.value, requests: [
    {user: form.user.value.trim(), k: Number(form.k.value), explain: 3, attention: true}]};
  const [result] = (await api("/v1/recommend", body)).results;
  const peak = Math.max(...result.attention.map((a) => a.attention));
  field(view, "read").textContent = result.history_length;
  field(view, "history").replaceChildren(...result.attention.map((a, position) =>
    el("li", {dataset: {item: a.item}, "--w": a.attention / peak,
              title: `#${position + 1} ${a.item}: ${percent(a.attention)} of the attention`},
      itemName(a.item), el("span", {className: "weight"}, percent(a.attention)))));
  field(view, "recs").replaceChildren(...result.items.map((rec, rank) => {
    const row = el("tr", {dataset: {item: rec.item}},
      el("td", {className: "rank"}, rank + 1), el("td", {}, itemName(rec.item)),
      el("td", {className: "num"}, rec.score.toFixed(2)),
      el("td", {}, el("ul", {className: "because"}, rec.because.map((b) =>
        el("li", {}, itemName(b.item), bar(b.attention, peak)))), sharedFeatures(rec)));
    const mark = (on) => () => {
      const reasons = new Set(rec.because.map((b) => b.item));
      for (const chip of field(view, "history").children) chip.classList.toggle("reason", on && reasons.has(chip.dataset.item));
    };
    row.addEventListener("mouseenter", mark(true));
    row.addEventListener("mouseleave", mark(false));
    return row;
  }));
  view.querySelector(".result").hidden = false;
}

/** The recommended item's side features that its reasons share ("they are all Sci-Fi"), shaded by
    the attention the item's own representation gives each; nothing for a model without item features. */
function sharedFeatures(rec) {
  if (!rec.features.length) return null;
  return el("p", {className: "shared"}, el("span", {className: "label"}, "Shares"),
    rec.features.map((f) => el("span", {
      className: "feature", "--w": f.weight,
      title: `${f.shared} of the ${rec.because.length} reasons have it too; the recommended item's ` +
             `representation gives it ${percent(f.weight)} of its attention`},
    `${f.feature}: ${f.value}`, el("small", {}, ` ${f.shared}/${rec.because.length}`))));
}

// ----------------------------------------------------------------------------- text

async function classify(view, form) {
  const [result] = (await api("/v1/explain-text", {model: form.model.value, texts: [form.text.value]})).results;
  field(view, "label").textContent = result.label;
  field(view, "probabilities").replaceChildren(...Object.entries(result.probabilities)
    .sort((a, b) => b[1] - a[1])
    .map(([label, p]) => el("tr", {className: label === result.label ? "chosen" : ""},
      el("th", {}, label), el("td", {}, bar(p)))));
  const peak = Math.max(...result.words.map((w) => w.weight), 1e-12);
  // the API's offsets count code points (Python's); a JS string counts UTF-16 units, two for an emoji
  const chars = Array.from(result.text);
  const parts = [];
  let at = 0;
  for (const word of [...result.words].sort((a, b) => a.start - b.start)) {
    parts.push(chars.slice(at, word.start).join(""),
      el("mark", {"--w": word.weight / peak, title: `${percent(word.weight)} of the attention`},
        chars.slice(word.start, word.end).join("")));
    at = word.end;
  }
  parts.push(chars.slice(at).join(""));
  field(view, "words").replaceChildren(...parts);
  field(view, "truncated").textContent = result.truncated
    ? "the text was longer than the encoder reads: words are weighed in the part it read" : "darker: more attention; hover a word for its share";
  view.querySelector(".result").hidden = false;
}

// ----------------------------------------------------------------------------- items

async function findAudience(view, form) {
  const model = form.model.value;
  const item = form.item.value.trim();
  const [result] = (await api("/v1/audience", {model, requests: [{item, k: Number(form.k.value)}]})).results;
  const info = items.get(item);
  field(view, "item").replaceChildren(itemName(item),
    info ? el("small", {}, ` — ${info.popularity} training interactions`) : null);
  const cells = new Map();  // user → its segment cell, filled once segments arrive
  field(view, "audience").replaceChildren(...result.results.map((user, rank) => {
    const cell = el("td", {className: "segment"}, "…");
    cells.set(user.id, cell);
    const link = el("a", {href: "#users", title: "See this user's recommendations"}, user.id);
    link.addEventListener("click", () => showUser(user.id, model));
    return el("tr", {}, el("td", {className: "rank"}, rank + 1), el("td", {}, link),
      el("td", {className: "num"}, user.score.toFixed(2)), cell);
  }));
  field(view, "segments").replaceChildren();
  field(view, "segments-note").textContent = "computing (the first time takes a few seconds)…";
  view.querySelector(".result").hidden = false;
  if (!result.results.length) {
    field(view, "segments-note").textContent = "no user left to target: everyone has this item";
    return;
  }
  const query = new URLSearchParams({model});
  for (const user of cells.keys()) query.append("user", user);
  const segments = await api(`/v1/segments?${query}`);
  const count = new Map();
  for (const [user, segment] of Object.entries(segments.members)) {
    cells.get(user).textContent = `segment ${segment}`;
    count.set(segment, (count.get(segment) || 0) + 1);
  }
  field(view, "segments-note").textContent =
    `${segments.k} segments over all users; the audience falls in ${count.size}`;
  field(view, "segments").replaceChildren(...segments.segments
    .filter((s) => count.has(s.segment))
    .sort((a, b) => count.get(b.segment) - count.get(a.segment))
    .map((s) => segmentCard(s, count.get(s.segment), cells.size)));
}

function segmentCard(segment, members, audience) {
  const chips = (rows) => el("ul", {className: "chips"}, rows.map((a) =>
    el("li", {title: `${percent(a.attention)} of the segment's attention, ${a.lift.toFixed(1)}× the average`},
      items.has(a.name) ? itemName(a.name) : a.name, el("small", {}, ` ${a.lift.toFixed(1)}×`))));
  return el("div", {className: "card"},
    el("h4", {}, `Segment ${segment.segment}`,
      el("small", {}, ` ${members} of ${audience} audience users · ${segment.users} users overall (${percent(segment.share, 0)})`)),
    segment.categories.length ? [el("p", {className: "label"}, "Attends to (categories, lift over average)"),
                                 chips(segment.categories)] : null,
    el("p", {className: "label"}, "Distinctive items (lift over average)"), chips(segment.distinctive));
}

// ----------------------------------------------------------------------------- transactions

/** The columns a transaction needs, and an example: two earlier transactions and one to score. */
async function loadSchema(view, form) {
  const schema = await api(`/v1/risk/schema?${new URLSearchParams({model: form.model.value})}`);
  const roles = [[schema.account, "account"], [schema.time, "time"], [schema.id, "event id"],
                 [schema.entity, "entity"], [schema.label, "label, optional"]]
    .filter(([name]) => name).map(([name, role]) => `${name} (${role})`);
  roles.push(...schema.numeric.map((name) => `${name} (number)`),
             ...Object.entries(schema.categorical).map(([name, values]) => `${name} (one of ${values.join(", ")})`));
  field(view, "columns").textContent = `Columns: ${roles.join(" · ")}`;
  const example = (minutesAgo, n, pick) => {
    const row = {};
    if (schema.id) row[schema.id] = `example-${n}`;
    row[schema.account] = "C0001";
    if (schema.entity) row[schema.entity] = "T0001";
    row[schema.time] = new Date(Date.now() - minutesAgo * 60_000).toISOString().slice(0, 19).replace("T", " ");
    for (const name of schema.numeric) row[name] = [25, 40, 980][n - 1];
    for (const [name, values] of Object.entries(schema.categorical)) row[name] = pick(values);
    return row;
  };
  const earlier = [example(180, 1, (v) => v[0]), example(60, 2, (v) => v[0])];
  form.history.value = `[\n${earlier.map((row) => `  ${JSON.stringify(row)}`).join(",\n")}\n]`;  // a row a line
  form.transaction.value = JSON.stringify(example(0, 3, (v) => v[v.length - 1]));
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${what} is not valid JSON (${error.message})`);
  }
}

async function scoreTransaction(view, form) {
  const transaction = parseJson(form.transaction.value, "the transaction");
  const history = form.history.value.trim() ? parseJson(form.history.value, "the earlier transactions") : [];
  if (!Array.isArray(history)) throw new Error("the earlier transactions must be a JSON array of objects");
  const body = {model: form.model.value, transactions: [...history, transaction], top: 5};
  const results = (await api("/v1/risk/explain", body)).results;
  const result = results[results.length - 1];  // rows come back in request order: the last is the one asked about
  field(view, "score").textContent = `${result.score.toFixed(3)} (${percent(result.score)})`;
  field(view, "meter").style.setProperty("--w", result.score);
  field(view, "event").textContent = `event ${result.event} · account ${result.account}`;
  field(view, "evidence").replaceChildren(...(result.attended.length ? result.attended.map((a) =>
    el("tr", {}, el("td", {}, bar(a.weight)), el("td", {}, a.event), el("td", {}, a.source),
      el("td", {}, a.time, el("small", {}, ` ${duration(a.seconds_before)} before`)),
      el("td", {className: "fields"}, Object.entries(a.fields).map(([k, v]) => el("span", {}, `${k}=${v}`))),
      el("td", {}, a.label === null ? "not known yet" : a.label ? "1 (positive)" : "0 (negative)")))
    : [el("tr", {}, el("td", {colSpan: 6, className: "empty"},
        "No earlier events of this account or entity: the score comes from the transaction alone."))]));
  view.querySelector(".result").hidden = false;
}

function duration(seconds) {
  const units = [[86_400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  const [size, name] = units.find(([size]) => seconds >= size) || units[units.length - 1];
  return `${Math.round(seconds / size)} ${name}`;
}

// ----------------------------------------------------------------------------- models

function renderModels(view, models) {
  field(view, "models").replaceChildren(...models.map((m) => {
    const test = m.test || {};
    const baselines = Object.keys(m.baselines);
    const metrics = Object.keys(test).filter((k) => !COUNTS.has(k));
    const sizes = Object.keys(test).filter((k) => COUNTS.has(k)).map((k) => `${test[k]} ${k}`).join(", ");
    return el("div", {className: "card", dataset: {model: m.name}},
      el("h3", {}, m.name, el("small", {}, ` ${m.task} · version ${m.version} · ${m.dataset || "dataset not recorded"}`)),
      el("p", {className: "label"}, `Loaded from ${m.path} at ${m.loaded_at}${sizes ? `; tested on ${sizes}` : ""}`),
      metrics.length ? el("table", {className: "metrics"},
        el("thead", {}, el("tr", {}, el("th", {}, "Test metric"), el("th", {className: "num"}, "This model"),
          baselines.map((b) => el("th", {className: "num"}, b.replaceAll("_", " "))))),
        el("tbody", {}, metrics.map((k) => el("tr", {dataset: {metric: k}}, el("th", {}, k),
          el("td", {className: "num model"}, number(test[k])),
          baselines.map((b) => el("td", {className: "num"}, number(m.baselines[b][k])))))))
        : el("p", {}, "This bundle has no test metrics."));
  }));
}

// ----------------------------------------------------------------------------- wiring

function showUser(user, model) {
  const form = document.querySelector("#users form");
  form.model.value = model;
  form.user.value = user;
  form.requestSubmit();
}

async function loadCatalogue(model) {
  const [users, catalogue] = await Promise.all([
    api(`/v1/users?${new URLSearchParams({model, limit: 1000})}`),
    api(`/v1/items?${new URLSearchParams({model, limit: 10000})}`)]);
  items.clear();
  for (const {item, ...info} of catalogue.items) items.set(item, info);
  document.getElementById("user-list").replaceChildren(...users.users.map((u) =>
    el("option", {value: u.user, label: `${u.history_length} items`})));
  document.getElementById("item-list").replaceChildren(...catalogue.items.map((i) =>
    el("option", {value: i.item, label: [i.title, i.category].filter(Boolean).join(" · ")})));
  return users.users;
}

function showView() {
  const name = location.hash.slice(1) || "users";
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== name;
  for (const tab of document.querySelectorAll("#tabs a")) tab.setAttribute("aria-selected", tab.dataset.view === name);
}

const ACTIONS = {users: recommend, text: classify, items: findAudience, transactions: scoreTransaction};

async function start() {
  showView();
  window.addEventListener("hashchange", showView);
  const modelsView = document.getElementById("models");
  let models;
  try {
    ({models} = await api("/v1/models"));
  } catch (error) {
    for (const view of document.querySelectorAll(".view")) showError(view, error);
    return;
  }
  document.getElementById("loaded").replaceChildren(...models.map((m) =>
    el("li", {title: m.path}, el("strong", {}, m.name), ` ${m.task} · v${m.version}`)));
  renderModels(modelsView, models);
  for (const view of document.querySelectorAll(".view[data-task]")) {
    const form = view.querySelector("form");
    const ofTask = models.filter((m) => m.task === view.dataset.task);
    form.model.replaceChildren(...ofTask.map((m) => el("option", {value: m.name}, m.name)));
    form.addEventListener("submit", (event) => { event.preventDefault(); run(view, () => ACTIONS[view.id](view, form)); });
    if (!ofTask.length) {
      form.querySelector("button").disabled = true;
      showError(view, new Error(`no ${view.dataset.task} model is loaded: start the service with --model DIR for one`));
    }
  }
  const users = document.querySelector("#users form");
  const audience = document.querySelector("#items form");
  const risk = document.querySelector("#transactions form");
  const catalogue = async (form) => {
    const known = await loadCatalogue(form.model.value);
    if (!users.user.value && known.length) users.user.value = known[0].user;
    if (!audience.item.value && items.size) audience.item.value = items.keys().next().value;
  };
  for (const form of [users, audience]) {
    form.model.addEventListener("change", () => {
      // both recsys views read one catalogue (names, pickers): they follow the same model
      for (const other of [users, audience]) other.model.value = form.model.value;
      run(form.closest(".view"), () => catalogue(form));
    });
  }
  risk.model.addEventListener("change", () => run(risk.closest(".view"), () => loadSchema(risk.closest(".view"), risk)));
  if (users.model.options.length) await run(users.closest(".view"), () => catalogue(users));
  if (risk.model.options.length) await run(risk.closest(".view"), () => loadSchema(risk.closest(".view"), risk));
}

document.addEventListener("DOMContentLoaded", start);
