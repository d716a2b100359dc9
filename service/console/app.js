// The operator console: one page, six views chosen by the URL's hash. Every action is a call to
// the service's public API (api.js); without the admin token only the playground works.
import htm from "htm";
import { h, render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, adminToken, api, checkToken, onTokenChange, setAdminToken, text, upload } from "./api.js";
import { parseMetrics, traffic } from "./metrics.js";

const html = htm.bind(h);

const VIEWS = [
  ["playground", "Playground"],
  ["examples", "Examples"],
  ["targets", "Targets"],
  ["quality", "Routing quality"],
  ["traffic", "Traffic"],
  ["feedback", "Feedback"],
];

const fmt = (x, digits = 2) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const short = (s, n = 160) => (s.length > n ? `${s.slice(0, n)}…` : s);

// Money as people read it: "$0.02", "$0.000123", never "2.0e-5".
const USD = new Intl.NumberFormat("en-US", {
  style: "currency",
  currency: "USD",
  maximumSignificantDigits: 3,
});
const usd = (x) => (x === null || x === undefined ? "–" : USD.format(x));

const RELATIVE = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];
/** "3 minutes ago", "yesterday": how long ago `iso` was, in words. */
function ago(iso, now = Date.now()) {
  const seconds = (Date.parse(iso) - now) / 1000;
  if (Math.abs(seconds) < 5) return "just now";
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second")
      return RELATIVE.format(Math.round(seconds / size), unit);
  }
}
/** A time in words, with the exact local time on hover. */
function When({ iso }) {
  if (!iso) return "–";
  return html`<time datetime=${iso} title=${new Date(iso).toLocaleString()}>${ago(iso)}</time>`;
}

// What the settings endpoint's words mean, for an operator.
const SOURCE = {
  default: "the built-in defaults",
  tuned: "tuned on your examples",
  pinned: "pinned by hand",
  file: "read from ROUTING_SETTINGS",
};
const TUNING = {
  idle: "idle",
  scheduled: "waiting for writes to settle",
  running: "running",
};
const OUTCOME = {
  replaced: "found better settings and put them in force",
  kept: "kept the settings in force (none ranked better)",
  failed: "failed",
};
const SETTING = {
  k: "neighbours read (k)",
  power: "similarity weighting (power)",
  shrinkage: "pull toward the prior (shrinkage)",
  prior: "prior: targets' means",
  min_similarity: "least similarity that counts",
  min_support: "neighbours needed, else fall back",
};

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash.replace(/^#\/?/, "").split("/");
}

function useToken() {
  const [token, setToken] = useState(adminToken());
  useEffect(() => onTokenChange(setToken), []);
  return token;
}

/** An error from the API as the service worded it, with its per-field or per-line details. */
function ErrorBox({ error }) {
  if (!error) return null;
  const details = error instanceof ApiError ? error.details : [];
  return html`<div class="error" role="alert">
    <strong>${error.code ?? "error"}</strong> ${error.message}
    ${details.length > 0 && html`<ul class="details">${details.slice(0, 50).map((d) => html`<li><code>${d.path}</code> ${d.message}</li>`)}</ul>`}
    ${details.length > 50 && html`<p>… and ${details.length - 50} more</p>`}
  </div>`;
}

function NeedsToken() {
  return html`<p class="hint">Type the admin token at the top right to use this page.</p>`;
}

/** Why the service refused a typed token, in words. */
function refusal(err) {
  if (err instanceof ApiError && err.status === 401) return "wrong token: the service refused it";
  if (err instanceof ApiError && err.code === "ADMIN_DISABLED") return err.message;
  return `could not check the token: ${err.message}`;
}

function TokenField() {
  const token = useToken();
  const [draft, setDraft] = useState("");
  const [checking, setChecking] = useState(false);
  const [problem, setProblem] = useState(null);
  if (token) {
    return html`<span class="token">admin token accepted, kept for this tab
      <button type="button" onClick=${() => setAdminToken("")}>Forget</button></span>`;
  }
  // The token is tried on the service before it is kept: a wrong one is said at once.
  const submit = async (e) => {
    e.preventDefault();
    setChecking(true);
    setProblem(null);
    try {
      await checkToken(draft);
      setAdminToken(draft);
      setDraft("");
    } catch (err) {
      setProblem(refusal(err));
    } finally {
      setChecking(false);
    }
  };
  return html`<form class="token" onSubmit=${submit}>
    <input type="password" name="token" placeholder="admin token" autocomplete="off" value=${draft}
      onInput=${(e) => setDraft(e.currentTarget.value)} required />
    <button type="submit" disabled=${checking}>${checking ? "Checking…" : "Use"}</button>
    ${problem && html`<span class="token-problem" role="alert">${problem}</span>`}
  </form>`;
}

// ---------------------------------------------------------------------------------------------
// Playground

function objectiveOf(kind, value) {
  if (!kind || value === "") return undefined;
  return { [kind]: Number(value) };
}

function ScoreBars({ scores, recommended }) {
  const top = Math.max(1, ...scores.map((s) => s.score));
  return html`<div class="bars">
    ${scores.map(
      (
        s,
      ) => html`<div class=${`bar-row${s.target === recommended ? " recommended" : ""}`} data-target=${s.target}>
        <span class="bar-name">${s.target}</span>
        <span class="bar"><span class="fill" style=${`width:${Math.max(0, (s.score / top) * 100)}%`}></span></span>
        <span class="num">${fmt(s.score, 3)}</span>
        <span class="num" title="neighbours that scored it">support ${s.support}</span>
        <span class="num" title="the share of this score that comes from the neighbours; the rest is the prior (the target's mean)">${Math.round(s.confidence * 100)}% from neighbours</span>
        ${s.price_per_mtok !== undefined && html`<span class="num">${s.price_per_mtok === null ? "no price" : `${usd(s.price_per_mtok)}/M tokens`}</span>`}
        ${s.utility !== undefined && html`<span class="num">utility ${fmt(s.utility, 3)}</span>`}
      </div>`,
    )}
  </div>`;
}

/**
 * What the confidences say, in words: how much of the scores the neighbours decided, and why an
 * example just added may barely move them.
 */
function confidenceInWords(result) {
  if (result.fallback)
    return "No neighbour counted: each score is the target's mean over the examples (the prior).";
  const rows = result.scores.filter((s) => s.support > 0);
  if (rows.length === 0) return "";
  const share = rows.reduce((a, s) => a + s.confidence, 0) / rows.length;
  if (share >= 0.95) return "The scores come from these neighbours alone.";
  const pct = Math.max(1, Math.round(share * 100));
  return `About ${pct}% of each score comes from these neighbours; the rest is the prior, the target's mean score in the neighbours' categories or overall. Self-tuning found that leaning on the prior ranks better on your examples (the shrinkage on the Routing quality page), so one new example moves a score only a little; many similar examples move it more.`;
}

/** The neighbours, each with its score for every ranked target, in the ranking's order. */
function Neighbours({ hits, details, targets }) {
  if (hits.length === 0) return html`<p class="hint">No neighbours.</p>`;
  const withText = adminToken();
  // Scores are operator data: without the token there are none to align.
  if (Object.keys(details).length === 0) targets = [];
  return html`<div class="wide-table"><table class="neighbours">
    <thead><tr><th>example</th><th>category</th><th>similarity</th><th>text</th>
      ${targets.map((t) => html`<th class="num target-col" title=${t}>${t}</th>`)}</tr></thead>
    <tbody>
      ${hits.map((hit) => {
        const e = details[hit.id];
        return html`<tr data-id=${hit.id}>
          <td class="id"><a href=${`#/examples/${hit.id}`} title=${hit.id}>${short(hit.id, 10)}</a></td>
          <td>${hit.category ?? "–"}</td>
          <td class="num">${fmt(hit.similarity, 4)}</td>
          <td class="text">${e ? short(e.text, 90) : html`<span class="hint nowrap">${withText ? "…" : "admin token needed for texts and scores"}</span>`}</td>
          ${targets.map((t) => html`<td class="num score" data-target=${t}>${e ? fmt(e.scores[t]) : ""}</td>`)}
        </tr>`;
      })}
    </tbody>
  </table></div>`;
}

/** The stored examples behind `ids`, read one by one with the admin token (none without it). */
async function examplesById(ids) {
  if (!adminToken()) return {};
  const found = await Promise.all(ids.map((id) => api("GET", `/admin/examples/${id}`).catch(() => null)));
  return Object.fromEntries(found.filter(Boolean).map((e) => [e.id, e]));
}

function Playground() {
  const [form, setForm] = useState({ query: "", k: "", targets: "", category: "", kind: "", value: "" });
  const [result, setResult] = useState(null);
  const [details, setDetails] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (field) => (e) => setForm({ ...form, [field]: e.currentTarget.value });

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { query: form.query };
      if (form.k) body.k = Number(form.k);
      const targets = form.targets
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean);
      if (targets.length > 0) body.targets = targets;
      if (form.category.trim()) body.category = form.category.trim();
      const objective = objectiveOf(form.kind, form.value);
      if (objective) body.objective = objective;
      const r = await api("POST", "/rank", body, { admin: false });
      setResult(r);
      setDetails(await examplesById(r.hits.map((h) => h.id)));
    } catch (err) {
      setResult(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return html`<section>
    <h2>Playground</h2>
    <form class="playground" onSubmit=${submit}>
      <textarea name="query" rows="4" placeholder="Type a prompt" value=${form.query} onInput=${set("query")} required></textarea>
      <div class="row">
        <label>k <input name="k" type="number" min="1" max="200" value=${form.k} onInput=${set("k")} /></label>
        <label>targets <input name="targets" placeholder="all enabled (or a,b,c)" value=${form.targets} onInput=${set("targets")} /></label>
        <label>category <input name="category" value=${form.category} onInput=${set("category")} /></label>
        <label>objective
          <select name="objective" value=${form.kind} onChange=${set("kind")}>
            <option value="">none</option>
            <option value="willingness_to_pay">willingness to pay</option>
            <option value="max_price">max price</option>
            <option value="quality_tolerance">quality tolerance</option>
          </select>
        </label>
        ${form.kind && html`<label>value <input name="objective-value" type="number" step="any" min="0" value=${form.value} onInput=${set("value")} /></label>`}
        <button type="submit" disabled=${busy}>${busy ? "Ranking…" : "Rank"}</button>
      </div>
    </form>
    <${ErrorBox} error=${error} />
    ${
      result &&
      html`<div class="result">
      <p class="summary">
        ${
          result.recommended !== undefined &&
          html`<span>recommended: <strong class="recommended-name">${result.recommended ?? "none affordable"}</strong>
          ${result.recommended && html` at ${usd(result.scores.find((s) => s.target === result.recommended)?.price_per_mtok)}/M tokens`}</span>`
        }
        <span class=${result.fallback ? "fallback yes" : "fallback"}>${result.fallback ? `fallback: ${result.fallback_reason}` : "no fallback"}</span>
        <span>k ${result.k}</span>
        ${result.truncated && html`<span>query truncated</span>`}
        ${result.category_known !== undefined && html`<span>category ${result.category_known ? "known" : "unknown"}</span>`}
        <span class="hint">${result.embedder}</span>
      </p>
      <${ScoreBars} scores=${result.scores} recommended=${result.recommended} />
      <p class="hint confidence-note">${confidenceInWords(result)}</p>
      <h3>Neighbours that decided it</h3>
      <${Neighbours} hits=${result.hits} details=${details} targets=${result.scores.map((s) => s.target)} />
    </div>`
    }
  </section>`;
}

// ---------------------------------------------------------------------------------------------
// Examples

function ScoresEditor({ targets, scores, onChange }) {
  const [extra, setExtra] = useState({ name: "", score: "" });
  const names = [...new Set([...(targets ?? []).map((t) => t.name), ...Object.keys(scores)])];
  const setScore = (name, value) => {
    const next = { ...scores };
    if (value === "") delete next[name];
    else next[name] = Number(value);
    onChange(next);
  };
  return html`<div class="scores-editor">
    ${names.map(
      (name) => html`<label>${name}
        <input type="number" step="any" name=${`score-${name}`} value=${scores[name] ?? ""}
          onInput=${(e) => setScore(name, e.currentTarget.value)} /></label>`,
    )}
    <label>another target
      <input name="extra-target" placeholder="name" value=${extra.name} onInput=${(e) => setExtra({ ...extra, name: e.currentTarget.value })} />
      <input name="extra-score" type="number" step="any" placeholder="score" value=${extra.score}
        onInput=${(e) => setExtra({ ...extra, score: e.currentTarget.value })} />
      <button type="button" disabled=${!extra.name.trim() || extra.score === ""} onClick=${() => {
        setScore(extra.name.trim(), extra.score);
        setExtra({ name: "", score: "" });
      }}>Add</button>
    </label>
  </div>`;
}

/**
 * `GET path`'s `field` with the admin token, read again whenever the token changes: `[value,
 * setValue]`, value null until it arrives; a failure goes to `onError`.
 */
function useAdminRead(path, field, onError) {
  const token = useToken();
  const [value, setValue] = useState(null);
  useEffect(() => {
    if (!token) return;
    api("GET", path)
      .then((r) => setValue(r[field]))
      .catch(onError);
  }, [token, path, field, onError]);
  return [value, setValue];
}

const ignore = () => undefined;

/** One example to add (`id` absent) or to edit. */
function ExampleForm({ id }) {
  const token = useToken();
  const [targets] = useAdminRead("/admin/targets", "targets", ignore);
  const [draft, setDraft] = useState(id ? null : { text: "", category: "", scores: {} });
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState("");

  useEffect(() => {
    if (!id || !token) return;
    setDraft(null);
    api("GET", `/admin/examples/${id}`)
      .then((e) =>
        setDraft({ text: e.text, category: e.category ?? "", scores: e.scores, updated: e.updated_at }),
      )
      .catch(setError);
  }, [id, token]);

  if (!token) return html`<${NeedsToken} />`;
  if (!draft) return html`<${ErrorBox} error=${error} />${!error && html`<p>Loading…</p>`}`;

  const body = () => {
    const b = { text: draft.text, scores: draft.scores };
    if (draft.category.trim()) b.category = draft.category.trim();
    return b;
  };
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    setSaved("");
    try {
      if (id) {
        const r = await api("PUT", `/admin/examples/${id}`, body());
        setDraft({ ...draft, updated: r.updated_at });
        setSaved("saved");
      } else {
        const r = await api("POST", "/admin/examples", { examples: [body()] });
        location.hash = `#/examples/${r.ids[0]}`;
      }
    } catch (err) {
      setError(err);
    }
  };
  const remove = async () => {
    if (!confirm("Delete this example?")) return;
    try {
      await api("DELETE", `/admin/examples/${id}`);
      location.hash = "#/examples";
    } catch (err) {
      setError(err);
    }
  };

  return html`<form class="example-form" onSubmit=${save}>
    <h3>${id ? html`Example <code>${id}</code>` : "New example"}</h3>
    <label>text <textarea name="text" rows="5" value=${draft.text} onInput=${(e) => setDraft({ ...draft, text: e.currentTarget.value })}></textarea></label>
    <label>category <input name="category" value=${draft.category} onInput=${(e) => setDraft({ ...draft, category: e.currentTarget.value })} /></label>
    <${ScoresEditor} targets=${targets} scores=${draft.scores} onChange=${(scores) => setDraft({ ...draft, scores })} />
    <div class="row">
      <button type="submit">${id ? "Save" : "Add example"}</button>
      ${id && html`<button type="button" class="danger" onClick=${remove}>Delete</button>`}
      <a href="#/examples">back to the list</a>
      ${saved && html`<span class="ok">${saved}</span>`}
      ${draft.updated && html`<span class="hint">updated <${When} iso=${draft.updated} /></span>`}
    </div>
    <${ErrorBox} error=${error} />
  </form>`;
}

function ExampleRows({ rows }) {
  if (rows.length === 0) return html`<p class="hint">No examples.</p>`;
  return html`<table class="examples">
    <thead><tr><th>text</th><th>category</th>${rows[0].similarity !== undefined && html`<th>similarity</th>`}<th>targets scored</th></tr></thead>
    <tbody>${rows.map(
      (e) => html`<tr data-id=${e.id}>
        <td><a href=${`#/examples/${e.id}`}>${short(e.text, 120)}</a></td>
        <td>${e.category ?? "–"}</td>
        ${e.similarity !== undefined && html`<td class="num">${fmt(e.similarity, 4)}</td>`}
        <td class="num">${Object.keys(e.scores).length}</td>
      </tr>`,
    )}</tbody>
  </table>`;
}

const PAGE = 20;

function ExampleList() {
  const token = useToken();
  const [category, setCategory] = useState("");
  const [cursors, setCursors] = useState([null]);
  const [page, setPage] = useState(null);
  const [search, setSearch] = useState("");
  const [found, setFound] = useState(null);
  const [error, setError] = useState(null);
  const [categories] = useAdminRead("/admin/categories", "categories", setError);

  const cursor = cursors.at(-1);
  useEffect(() => {
    if (!token) return;
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (category) q.set("category", category);
    if (cursor) q.set("cursor", cursor);
    api("GET", `/admin/examples?${q}`).then(setPage).catch(setError);
  }, [token, category, cursor]);

  if (!token) return html`<${NeedsToken} />`;

  const nearest = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await api("POST", "/rank", { query: search, k: PAGE }, { admin: false });
      const byId = await examplesById(r.hits.map((h) => h.id));
      setFound(r.hits.filter((h) => byId[h.id]).map((h) => ({ ...byId[h.id], similarity: h.similarity })));
    } catch (err) {
      setError(err);
    }
  };

  return html`<div>
    <div class="row">
      <label>category
        <select name="category" value=${category} onChange=${(e) => {
          setCategory(e.currentTarget.value);
          setCursors([null]);
        }}>
          <option value="">all</option>
          ${(categories ?? []).filter((c) => c.name !== null).map((c) => html`<option value=${c.name}>${c.name} (${c.examples})</option>`)}
        </select>
      </label>
      <a class="button" href="#/examples/new">New example</a>
      <a class="button" href="#/examples/import">Bulk import</a>
    </div>
    <${BulkDelete} category=${category} onDeleted=${() => setCursors([null])} />
    <form class="row" onSubmit=${nearest}>
      <input name="search" class="wide" placeholder="Nearest examples to a text" value=${search} onInput=${(e) => setSearch(e.currentTarget.value)} required />
      <button type="submit">Search</button>
      ${found && html`<button type="button" onClick=${() => setFound(null)}>Clear</button>`}
    </form>
    <${ErrorBox} error=${error} />
    ${
      found
        ? html`<h3>Nearest to the text</h3><${ExampleRows} rows=${found} />`
        : page &&
          html`<${ExampleRows} rows=${page.examples} />
        <div class="row pager">
          <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous</button>
          <span>page ${cursors.length}</span>
          <button type="button" disabled=${!page.next_cursor} onClick=${() => setCursors([...cursors, page.next_cursor])}>Next</button>
        </div>`
    }
  </div>`;
}

/** Deletes the examples matching a filter (DELETE /admin/examples), after asking. */
function BulkDelete({ category, onDeleted }) {
  const [prefix, setPrefix] = useState("");
  const [origin, setOrigin] = useState("");
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const q = new URLSearchParams();
  if (category) q.set("category", category);
  if (prefix.trim()) q.set("id_prefix", prefix.trim());
  if (origin) q.set("origin", origin);
  const what = [
    category && `of category ${category}`,
    prefix.trim() && `whose id starts with ${prefix.trim()}`,
    origin && (origin === "outcome" ? "made by outcomes" : "written by operators"),
  ].filter(Boolean);
  const remove = async () => {
    if (what.length === 0) q.set("all", "true");
    if (!confirm(`Delete every example${what.length ? ` ${what.join(", ")}` : ""}?`)) return;
    setError(null);
    setResult(null);
    try {
      setResult(await api("DELETE", `/admin/examples?${q}`));
      onDeleted();
    } catch (err) {
      setError(err);
    }
  };
  return html`<div class="row bulk-delete">
    <input name="id_prefix" placeholder="id prefix (optional)" value=${prefix} onInput=${(e) => setPrefix(e.currentTarget.value)} />
    <select name="origin" value=${origin} onChange=${(e) => setOrigin(e.currentTarget.value)}>
      <option value="">labels and outcomes</option>
      <option value="label">operators' labels</option>
      <option value="outcome">from outcomes</option>
    </select>
    <button type="button" class="danger" onClick=${remove}>Delete ${what.length ? "matching" : "all"} examples</button>
    ${result && html`<span class="ok">deleted ${result.deleted}</span>`}
    <${ErrorBox} error=${error} />
  </div>`;
}

function BulkImport() {
  const token = useToken();
  const [format, setFormat] = useState("examples");
  const [progress, setProgress] = useState(null);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  if (!token) return html`<${NeedsToken} />`;

  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    for (const [k, v] of [...form.entries()]) {
      if ((v instanceof File && v.size === 0 && !v.name) || v === "") form.delete(k);
    }
    const unlisted = form.get("unlisted");
    form.delete("unlisted");
    const replace = form.get("replace") === "on";
    form.delete("replace");
    if (
      replace &&
      !confirm("Replace every stored example with this file? The examples not in it are deleted.")
    )
      return;
    const q = new URLSearchParams({ format });
    if (unlisted) q.set("unlisted", unlisted);
    if (replace) q.set("mode", "replace");
    setError(null);
    setResult(null);
    setProgress(0);
    try {
      setResult(await upload(`/admin/import?${q}`, form, setProgress));
    } catch (err) {
      setError(err);
    } finally {
      setProgress(null);
    }
  };

  return html`<form class="import" onSubmit=${submit}>
    <h3>Bulk import</h3>
    <p class="hint">All or nothing: one bad line rejects the file, and every bad line is listed.</p>
    <div class="row">
      <label><input type="radio" name="fmt" checked=${format === "examples"} onChange=${() => setFormat("examples")} /> our JSONL</label>
      <label><input type="radio" name="fmt" checked=${format === "pulze"} onChange=${() => setFormat("pulze")} /> knn-router points + targets</label>
    </div>
    ${
      format === "examples"
        ? html`<label>examples.jsonl <input type="file" name="examples" accept=".jsonl,.ndjson,.json,.txt" required /></label>`
        : html`<label>points.jsonl <input type="file" name="points" required /></label>
        <label>targets.jsonl <input type="file" name="targets" required /></label>
        <label>embedder of the points' embeddings (optional) <input name="embedder" /></label>`
    }
    <label>targets an example does not score
      <select name="unlisted">
        <option value="">the format's default</option>
        <option value="absent">absent</option>
        <option value="zero">score 0</option>
      </select>
    </label>
    <label><input type="checkbox" name="replace" /> start over: these become all the examples (the others are deleted)</label>
    <div class="row">
      <button type="submit" disabled=${progress !== null}>Import</button>
      ${
        progress !== null &&
        html`<progress max="1" value=${progress}></progress>
        <span>${progress < 1 ? `uploading ${Math.round(progress * 100)}%` : "embedding and writing…"}</span>`
      }
    </div>
    ${result && html`<p class="ok">imported ${result.imported} examples${result.deleted ? `, deleted ${result.deleted}` : ""}${result.indexed ? "" : " (the index catches up in the background)"}</p>`}
    <${ErrorBox} error=${error} />
  </form>`;
}

function Examples({ sub }) {
  return html`<section>
    <h2>Examples</h2>
    ${sub === "new" ? html`<${ExampleForm} />` : sub === "import" ? html`<${BulkImport} />` : sub ? html`<${ExampleForm} id=${sub} />` : html`<${ExampleList} />`}
  </section>`;
}

// ---------------------------------------------------------------------------------------------
// Targets

function TargetRow({ target, onSaved, onDeleted }) {
  const [draft, setDraft] = useState(target);
  const [error, setError] = useState(null);
  useEffect(() => setDraft(target), [target]);
  const price = (v) => (v === "" ? null : Number(v));
  const save = async (patch) => {
    setError(null);
    try {
      onSaved(await api("PUT", `/admin/targets/${encodeURIComponent(target.name)}`, patch));
    } catch (err) {
      setError(err);
    }
  };
  return html`<tr data-target=${target.name}>
    <td>${target.name}</td>
    <td class="num">${target.examples}</td>
    <td><input type="number" step="any" min="0" name="input_price" value=${draft.input_price_per_mtok ?? ""}
      onInput=${(e) => setDraft({ ...draft, input_price_per_mtok: price(e.currentTarget.value) })} /></td>
    <td><input type="number" step="any" min="0" name="output_price" value=${draft.output_price_per_mtok ?? ""}
      onInput=${(e) => setDraft({ ...draft, output_price_per_mtok: price(e.currentTarget.value) })} /></td>
    <td><label class="switch"><input type="checkbox" name="enabled" checked=${target.enabled}
      onChange=${(e) => save({ enabled: e.currentTarget.checked })} /> ${target.enabled ? "enabled" : "disabled"}</label></td>
    <td><button type="button" onClick=${() =>
      save({
        input_price_per_mtok: draft.input_price_per_mtok,
        output_price_per_mtok: draft.output_price_per_mtok,
      })}>Save prices</button>
      <button type="button" class="danger" onClick=${async () => {
        if (
          !confirm(
            `Delete ${target.name}, and its score in every example? Examples it alone scored are deleted.`,
          )
        )
          return;
        setError(null);
        try {
          onDeleted(await api("DELETE", `/admin/targets/${encodeURIComponent(target.name)}`));
        } catch (err) {
          setError(err);
        }
      }}>Delete</button> <${ErrorBox} error=${error} /></td>
  </tr>`;
}

function Targets() {
  const token = useToken();
  const [error, setError] = useState(null);
  const [targets, setTargets] = useAdminRead("/admin/targets", "targets", setError);
  const saved = (t) => setTargets(targets.map((x) => (x.name === t.name ? t : x)));
  const [removed, setRemoved] = useState(null);
  const deleted = (r) => {
    setRemoved(r);
    setTargets(targets.filter((x) => x.name !== r.deleted));
  };
  return html`<section>
    <h2>Targets</h2>
    ${!token && html`<${NeedsToken} />`}
    <${ErrorBox} error=${error} />
    ${
      targets &&
      html`<table class="targets">
      <thead><tr><th>target</th><th>examples</th><th>input $/1M tokens</th><th>output $/1M tokens</th><th>in rankings</th><th></th></tr></thead>
      <tbody>${targets.map((t) => html`<${TargetRow} key=${t.name} target=${t} onSaved=${saved} onDeleted=${deleted} />`)}</tbody>
    </table>`
    }
    ${removed && html`<p class="ok">deleted ${removed.deleted}: ${removed.examples_rewritten} examples keep their other scores, ${removed.examples_deleted} that scored only it were deleted</p>`}
  </section>`;
}

// ---------------------------------------------------------------------------------------------
// Routing quality

const CURVES = [
  ["router", "these settings (cross-validated)", "#2563eb"],
  ["bestSingle", "best single model", "#9ca3af"],
  ["oracle", "oracle", "#16a34a"],
];

function CurvePlot({ curves }) {
  const ref = useRef(null);
  useEffect(() => {
    if (!ref.current || !window.uPlot) return;
    // One shared x axis: every curve's costs, each curve stepped onto it (a point where it has one).
    const xs = [...new Set(CURVES.flatMap(([key]) => (curves[key] ?? []).map((p) => p.x)))].sort(
      (a, b) => a - b,
    );
    const series = CURVES.map(([key]) => {
      const at = new Map((curves[key] ?? []).map((p) => [p.x, p.y]));
      return xs.map((x) => at.get(x) ?? null);
    });
    const plot = new window.uPlot(
      {
        width: Math.min(ref.current.clientWidth || 760, 900),
        height: 360,
        scales: { x: { time: false } },
        axes: [
          {
            label: "mean cost per 1,000 queries",
            values: (_, ticks) => ticks.map((t) => usd(t * 1000)),
            size: 50,
          },
          { label: "mean quality", values: (_, ticks) => ticks.map((t) => t.toFixed(2)) },
        ],
        series: [
          { label: "cost per 1,000 queries", value: (_, v) => (v === null ? "–" : usd(v * 1000)) },
          ...CURVES.map(([, label, stroke]) => ({
            label,
            stroke,
            width: 2,
            spanGaps: true,
            points: { show: true, size: 4 },
            value: (_, v) => (v === null || v === undefined ? "–" : v.toFixed(3)),
          })),
        ],
      },
      [xs, ...series],
      ref.current,
    );
    return () => plot.destroy();
  }, [curves]);
  return html`<div class="plot" ref=${ref}></div>`;
}

function Quality() {
  const token = useToken();
  const [status, setStatus] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    api("GET", "/admin/settings").then(setStatus).catch(setError);
  }, []);
  useEffect(() => {
    if (!token) return;
    load();
  }, [token, load]);
  useEffect(() => {
    if (!status || status.tuning === "idle") return;
    const timer = setTimeout(load, 1000);
    return () => clearTimeout(timer);
  }, [status, load]);

  if (!token) return html`<section><h2>Routing quality</h2><${NeedsToken} /></section>`;
  const tune = async () => {
    try {
      setStatus(await api("POST", "/admin/settings/tune"));
    } catch (err) {
      setError(err);
    }
  };
  const ev = status?.evaluation;
  return html`<section>
    <h2>Routing quality</h2>
    <${ErrorBox} error=${error} />
    ${
      status &&
      html`<div>
      <p class="summary">
        <span>settings: <strong class="settings-source">${SOURCE[status.source] ?? status.source}</strong></span>
        <span>tuning: <strong class="tuning-state" data-state=${status.tuning}>${TUNING[status.tuning] ?? status.tuning}</strong></span>
        ${status.tuned_at && html`<span class="tuned-at">tuned <${When} iso=${status.tuned_at} /> on ${status.examples} examples</span>`}
        <span>${status.changes_since === 1 ? "1 example change" : `${status.changes_since} example changes`} since</span>
        <button type="button" disabled=${status.tuning !== "idle" || status.source === "pinned" || status.source === "file"} onClick=${tune}>Tune now</button>
      </p>
      ${
        status.last_run &&
        html`<p class="hint last-run">last run, started <${When} iso=${status.last_run.started_at} />${`: ${status.last_run.outcome ? OUTCOME[status.last_run.outcome] : "still running"}`}${status.last_run.message ? ` (${status.last_run.message})` : ""}</p>`
      }
      <table class="settings"><tbody>
        ${Object.entries(status.settings).map(([k, v]) => html`<tr data-setting=${k}><th>${SETTING[k] ?? k}</th><td>${v}</td></tr>`)}
      </tbody></table>
      ${
        ev
          ? html`<h3>Cross-validated ${ev.metric === "aiq" ? "area under the cost-quality curve (AIQ)" : "score fit (1 − RMSE)"}</h3>
          <table class="metrics"><tbody>
            <tr><th>these settings</th><td class="num metric-value">${fmt(ev.value, 4)}</td></tr>
            <tr><th>prior only (no neighbours)</th><td class="num">${fmt(ev.baselines?.priorOnly, 4)}</td></tr>
            ${ev.baselines?.bestSingle !== undefined && html`<tr><th>best single model per budget</th><td class="num">${fmt(ev.baselines.bestSingle, 4)}</td></tr>`}
            ${ev.baselines?.oracle !== undefined && html`<tr><th>oracle</th><td class="num">${fmt(ev.baselines.oracle, 4)}</td></tr>`}
            <tr><th>neighbours help</th><td>${ev.neighbours_help ? "yes" : "no (ranking by the means)"}</td></tr>
            <tr><th>search</th><td>${ev.candidates} settings, ${ev.folds} folds, ${fmt(ev.seconds, 1)} s</td></tr>
          </tbody></table>
          ${
            ev.curves
              ? html`<${CurvePlot} curves=${ev.curves} />
              <details><summary>the points behind the plot</summary>
                <table class="points"><thead><tr><th>curve</th><th>cost per 1,000 queries</th><th>quality</th></tr></thead><tbody>
                  ${CURVES.flatMap(([key, label]) => (ev.curves[key] ?? []).map((p) => html`<tr><td>${label}</td><td class="num">${usd(p.x * 1000)}</td><td class="num">${fmt(p.y, 4)}</td></tr>`))}
                </tbody></table></details>`
              : html`<p class="hint">No cost-quality curve: give every target a price and tune again.</p>`
          }`
          : html`<p class="hint">Not tuned yet: ranking uses the safe defaults until tuning has run.</p>`
      }
    </div>`
    }
  </section>`;
}

// ---------------------------------------------------------------------------------------------
// Traffic

const TRAFFIC_EVERY_MS = 2000;
const ESTIMATES =
  "The /rank percentiles are estimates from the latency histogram's buckets (linear within a bucket, as Prometheus's histogram_quantile does): within a bucket's width of the true value.";
const HISTORY = 60;

function Traffic() {
  const token = useToken();
  const [now, setNow] = useState(null);
  const [history, setHistory] = useState([]);
  const [error, setError] = useState(null);
  const last = useRef(null);
  const ref = useRef(null);

  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const samples = parseMetrics(await text("/metrics"));
        const at = performance.now();
        const prev = last.current;
        const t = traffic(samples, prev?.samples ?? null, prev ? (at - prev.at) / 1000 : 0);
        last.current = { samples, at };
        if (stop) return;
        setError(null);
        // Since start: over the process's uptime by its own start time (the service's clock).
        const started = samples.find((s) => s.name === "router_process_start_time_seconds")?.value;
        const uptime = started ? Date.now() / 1000 - started : 0;
        setNow({ window: prev ? t : null, total: traffic(samples, null, Math.max(uptime, 0)) });
        if (prev)
          setHistory((h) => [...h.slice(-HISTORY + 1), [Date.now() / 1000, t.requestsPerSecond, t.p99]]);
      } catch (err) {
        if (!stop) setError(err);
      }
    };
    poll();
    const timer = setInterval(poll, TRAFFIC_EVERY_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [token]);

  useEffect(() => {
    if (!ref.current || !window.uPlot || history.length < 2) return;
    const plot = new window.uPlot(
      {
        width: Math.min(ref.current.clientWidth || 760, 900),
        height: 220,
        series: [
          { label: "time", value: (_, v) => (v === null ? "–" : new Date(v * 1000).toLocaleTimeString()) },
          {
            label: "requests/s",
            stroke: "#2563eb",
            width: 2,
            value: (_, v) => (v === null || v === undefined ? "–" : v.toFixed(1)),
          },
          {
            label: "/rank p99 (estimate)",
            stroke: "#dc2626",
            width: 1,
            scale: "ms",
            value: (_, v) => (v === null || v === undefined ? "–" : `≈ ${v.toFixed(1)} ms`),
          },
        ],
        axes: [
          {},
          { label: "requests/s" },
          { side: 1, scale: "ms", label: "ms (p99 estimate)", grid: { show: false } },
        ],
      },
      [history.map((r) => r[0]), history.map((r) => r[1]), history.map((r) => r[2])],
      ref.current,
    );
    return () => plot.destroy();
  }, [history]);

  const w = now?.window;
  const all = now?.total;
  const row = (label, a, b) =>
    html`<tr><th>${label}</th><td class="num">${a}</td><td class="num">${b}</td></tr>`;
  return html`<section>
    <h2>Traffic</h2>
    <p class="hint">${`From GET /metrics every ${TRAFFIC_EVERY_MS / 1000} s. ${ESTIMATES}`}</p>
    ${error && error.status === 401 && html`<p class="hint">/metrics needs METRICS_TOKEN or the admin token: type one at the top right.</p>`}
    <${ErrorBox} error=${error} />
    ${
      all &&
      html`<table class="traffic"><thead><tr><th></th><th>last ${TRAFFIC_EVERY_MS / 1000} s</th><th>since start</th></tr></thead><tbody>
      ${row("requests/s", w ? fmt(w.requestsPerSecond, 1) : "measuring…", fmt(all.requestsPerSecond, 2))}
      ${row("ranks", w ? w.ranks : "–", all.ranks)}
      ${row("/rank p50 ms (estimate)", fmt(w?.p50), fmt(all.p50))}
      ${row("/rank p90 ms (estimate)", fmt(w?.p90), fmt(all.p90))}
      ${row("/rank p99 ms (estimate)", fmt(w?.p99), fmt(all.p99))}
      ${row("fallback rate", w?.fallbackRate == null ? "–" : `${fmt(w.fallbackRate * 100, 1)}%`, all.fallbackRate == null ? "–" : `${fmt(all.fallbackRate * 100, 1)}%`)}
    </tbody></table>
    <div class="plot" ref=${ref}></div>
    <h3>First places since start</h3>
    <div class="bars">${all.firstShares.map(
      (s) => html`<div class="bar-row" data-target=${s.target}><span class="bar-name">${s.target}</span>
        <span class="bar"><span class="fill" style=${`width:${s.share * 100}%`}></span></span>
        <span class="num">${fmt(s.share * 100, 1)}%</span><span class="num">${s.count}</span></div>`,
    )}</div>`
    }
  </section>`;
}

// ---------------------------------------------------------------------------------------------
// Feedback: outcomes waiting for review, what to label next, how outcomes arrive

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"];

/** An outcome in words: "big scored 0.80", "big over small", "big tied with small". */
function outcomeWords(o) {
  if (o.target !== undefined) return `${o.target} scored ${fmt(o.score)}`;
  return o.tie ? `${o.preferred} tied with ${o.over}` : `${o.preferred} over ${o.over}`;
}

function Feedback() {
  const token = useToken();
  const [error, setError] = useState(null);
  const [pending, setPending] = useState(null);
  const [queue, setQueue] = useState(null);
  const [arrivals, setArrivals] = useState(null);
  const [done, setDone] = useState("");
  const load = useCallback(() => {
    if (!token) return;
    setError(null);
    api("GET", "/admin/feedback/pending?limit=200").then(setPending).catch(setError);
    api("GET", "/admin/label-queue?limit=50")
      .then((r) => setQueue(r.queue))
      .catch(setError);
    api("GET", "/admin/feedback/arrivals?hours=24&bucket_minutes=60")
      .then((r) => setArrivals(r.buckets))
      .catch(setError);
  }, [token]);
  useEffect(load, [load]);

  const decide = async (rankingId, decision) => {
    try {
      const r = await api("POST", `/admin/feedback/${encodeURIComponent(rankingId)}/${decision}`);
      setDone(
        `${decision === "accept" ? "Accepted" : "Rejected"} ${r.outcomes} outcome${r.outcomes === 1 ? "" : "s"}.`,
      );
      load();
    } catch (err) {
      setError(err);
    }
  };
  const download = async () => {
    try {
      const body = await text("/admin/label-queue?format=jsonl&limit=1000");
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([body], { type: "application/x-ndjson" }));
      a.download = "label-queue.jsonl";
      a.click();
      URL.revokeObjectURL(a.href);
    } catch (err) {
      setError(err);
    }
  };
  // One row a ranking: its pending outcomes together, decided together.
  const byRanking = [];
  for (const o of pending?.outcomes ?? []) {
    const row = byRanking.find((r) => r.id === o.ranking_id);
    if (row) row.outcomes.push(o);
    else byRanking.push({ id: o.ranking_id, query: o.query, at: o.received_at, outcomes: [o] });
  }
  return html`<section class="feedback">
    <h2>Feedback</h2>
    ${!token && html`<${NeedsToken} />`}
    <${ErrorBox} error=${error} />
    ${done && html`<p class="saved">${done}</p>`}
    ${
      pending &&
      html`<h3>Waiting for review</h3>
      <p class="hint counts">${`${pending.counts.pending} pending, ${pending.counts.accepted} accepted, ${pending.counts.rejected} rejected. With FEEDBACK_REVIEW=true an outcome teaches the router only once accepted here.`}</p>
      ${
        byRanking.length === 0
          ? html`<p class="hint">Nothing waits for review.</p>`
          : html`<table class="pending"><thead><tr><th>prompt</th><th>outcomes</th><th>reported</th><th></th></tr></thead><tbody>
          ${byRanking.map(
            (r) => html`<tr data-ranking=${r.id}><td title=${r.query}>${short(r.query, 100)}</td>
              <td>${r.outcomes.map((o) => html`<div>${outcomeWords(o)}</div>`)}</td>
              <td><${When} iso=${r.at} /></td>
              <td><button onClick=${() => decide(r.id, "accept")}>Accept</button> <button onClick=${() => decide(r.id, "reject")}>Reject</button></td></tr>`,
          )}</tbody></table>`
      }`
    }
    ${
      queue &&
      html`<h3>What to label next</h3>
      <p class="hint">Recent prompts the router was least sure about. Download them, fill in the scores, and import the file back (Examples → Bulk import).</p>
      <button onClick=${download}>Download JSONL</button>
      ${
        queue.length === 0
          ? html`<p class="hint">No unsure rankings kept.</p>`
          : html`<table class="label-queue"><thead><tr><th>prompt</th><th>why</th><th>unsure</th><th>ranked</th></tr></thead><tbody>
          ${queue.map(
            (
              q,
            ) => html`<tr><td title=${q.query}>${short(q.query, 100)}</td><td>${q.why.map((w) => html`<div>${w}</div>`)}</td>
              <td class="num">${`${fmt(q.uncertainty * 100, 0)}%`}</td><td><${When} iso=${q.ranked_at} /></td></tr>`,
          )}</tbody></table>`
      }`
    }
    ${arrivals && html`<h3>Outcomes per target, last 24 hours</h3><${ArrivalsPlot} buckets=${arrivals} />`}
  </section>`;
}

/** Accepted outcomes per target and hour, one line a target. */
function ArrivalsPlot({ buckets }) {
  const ref = useRef(null);
  const targets = [...new Set(buckets.map((b) => b.target))].sort();
  useEffect(() => {
    if (!ref.current || !window.uPlot || buckets.length === 0) return;
    const xs = [...new Set(buckets.map((b) => Date.parse(b.start) / 1000))].sort((a, b) => a - b);
    const count = new Map(buckets.map((b) => [`${Date.parse(b.start) / 1000} ${b.target}`, b.outcomes]));
    const plot = new window.uPlot(
      {
        width: Math.min(ref.current.clientWidth || 760, 900),
        height: 240,
        series: [
          { label: "hour", value: (_, v) => (v === null ? "–" : new Date(v * 1000).toLocaleString()) },
          ...targets.map((t, i) => ({
            label: t,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            points: { show: true, size: 5 },
            value: (_, v) => (v === null || v === undefined ? "–" : `${v} outcomes`),
          })),
        ],
        axes: [{}, { label: "outcomes an hour" }],
      },
      [xs, ...targets.map((t) => xs.map((x) => count.get(`${x} ${t}`) ?? 0))],
      ref.current,
    );
    return () => plot.destroy();
  }, [buckets]);
  if (buckets.length === 0) return html`<p class="hint">No outcome accepted in the last 24 hours.</p>`;
  return html`<div class="plot arrivals" ref=${ref}></div>
    <table class="arrival-totals"><tbody>${targets.map(
      (t) =>
        html`<tr><th>${t}</th><td class="num">${buckets.filter((b) => b.target === t).reduce((s, b) => s + b.outcomes, 0)}</td></tr>`,
    )}</tbody></table>`;
}

// ---------------------------------------------------------------------------------------------

function App() {
  const [view, sub] = useHash();
  const current = VIEWS.some(([v]) => v === view) ? view : "playground";
  return html`<header>
      <h1>knn-llm-router</h1>
      <nav>${VIEWS.map(([v, label]) => html`<a href=${`#/${v}`} class=${v === current ? "active" : ""}>${label}</a>`)}</nav>
      <${TokenField} />
    </header>
    <main>
      ${current === "playground" && html`<${Playground} />`}
      ${current === "examples" && html`<${Examples} sub=${sub} />`}
      ${current === "targets" && html`<${Targets} />`}
      ${current === "quality" && html`<${Quality} />`}
      ${current === "traffic" && html`<${Traffic} />`}
      ${current === "feedback" && html`<${Feedback} />`}
    </main>`;
}

const root = document.getElementById("app");
// The "loading" text goes: render() would keep it beside the app.
root.replaceChildren();
render(html`<${App} />`, root);
