// Keys table: filter, sort and page through /drift/status, refreshed every few seconds.
// Plain DOM (textContent only, never innerHTML with data), no framework.
(function () {
  "use strict";
  const table = document.getElementById("status-table");
  const body = table.querySelector("tbody");
  const form = document.getElementById("filters");
  const errorBox = document.getElementById("fetch-error");
  const refreshSeconds = Number(document.getElementById("refresh-status").dataset.refreshSeconds) || 10;
  const pageSize = Number(table.dataset.pageSize) || 100;
  const view = { ordering: table.dataset.ordering || "-state", offset: 0, count: 0, refreshes: 0, lastUpdate: null };

  const number = (value, digits) => (value === null || value === undefined ? "" : Number(value).toFixed(digits));
  const when = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, "") : "");

  function keyUrl(row) {
    if ((row.source_id + row.metric).includes("/")) return null;  // not routable as a path segment
    return table.dataset.keyUrlTemplate
      .replace("__SOURCE__", encodeURIComponent(row.source_id))
      .replace("__METRIC__", encodeURIComponent(row.metric));
  }

  function cell(tr, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    tr.appendChild(td);
    return td;
  }

  function render(page) {
    const rows = document.createDocumentFragment();
    for (const row of page.results) {
      const tr = document.createElement("tr");
      tr.className = "state-" + row.state;
      tr.dataset.sourceId = row.source_id;
      tr.dataset.metric = row.metric;
      tr.dataset.state = row.state;
      const first = cell(tr, "");
      const url = keyUrl(row);
      if (url) {
        const a = document.createElement("a");
        a.href = url;
        a.textContent = row.source_id;
        first.appendChild(a);
      } else {
        first.textContent = row.source_id;
      }
      cell(tr, row.metric);
      const stateCell = cell(tr, "");
      const badge = document.createElement("span");
      badge.className = "badge state-" + row.state;
      badge.textContent = row.state;
      stateCell.appendChild(badge);
      cell(tr, when(row.state_since));
      cell(tr, when(row.last_event_time));
      cell(tr, number(row.rolling_mean, 4), "num");
      cell(tr, number(row.baseline_mean, 4), "num");
      cell(tr, number(row.z_score, 2), "num");
      cell(tr, number(row.std_ratio, 2), "num");
      cell(tr, String(row.rolling_count), "num");
      rows.appendChild(tr);
    }
    if (!page.results.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = cell(tr, "No keys match.");
      td.colSpan = 10;
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
    for (const badge of document.querySelectorAll("#state-counts .badge")) {
      badge.querySelector("b").textContent = String(page.state_counts[badge.dataset.state] ?? 0);
    }
    document.getElementById("total-count").textContent = String(page.count);
    view.count = page.count;
    const last = Math.min(view.offset + page.results.length, page.count);
    document.getElementById("page-info").textContent =
      page.count ? `${view.offset + 1}–${last} of ${page.count}` : "0 keys";
    document.getElementById("page-prev").disabled = !page.previous;
    document.getElementById("page-next").disabled = !page.next;
  }

  function query() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value) params.set(name, value);
    params.set("ordering", view.ordering);
    params.set("limit", String(pageSize));
    if (view.offset) params.set("offset", String(view.offset));
    return params;
  }

  let inFlight = null;
  async function load() {
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    try {
      const response = await fetch(table.dataset.statusUrl + "?" + query(), {
        headers: { Accept: "application/json" }, credentials: "same-origin", signal: controller.signal,
      });
      const data = await response.json();
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${JSON.stringify(data)}`);
      render(data);
      errorBox.hidden = true;
      view.refreshes += 1;
      view.lastUpdate = new Date();
      document.getElementById("updated-at").textContent = "updated " + view.lastUpdate.toISOString().slice(11, 19) + " UTC";
    } catch (err) {
      if (err.name === "AbortError") return;
      errorBox.textContent = "Refresh failed: " + err.message;
      errorBox.hidden = false;
    } finally {
      if (inFlight === controller) inFlight = null;
    }
  }

  function markSorted() {
    for (const th of table.querySelectorAll("th[data-sort]")) {
      th.classList.remove("sorted-asc", "sorted-desc");
      const field = view.ordering.replace(/^-/, "");
      if (th.dataset.sort === field) th.classList.add(view.ordering.startsWith("-") ? "sorted-desc" : "sorted-asc");
    }
  }

  table.querySelector("thead").addEventListener("click", (event) => {
    const th = event.target.closest("th[data-sort]");
    if (!th) return;
    const field = th.dataset.sort;
    view.ordering = view.ordering === field ? "-" + field : field;
    view.offset = 0;
    markSorted();
    load();
  });

  let debounce = null;
  form.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { view.offset = 0; load(); }, 250);
  });
  document.getElementById("page-prev").addEventListener("click", () => { view.offset = Math.max(0, view.offset - pageSize); load(); });
  document.getElementById("page-next").addEventListener("click", () => { view.offset += pageSize; load(); });

  markSorted();
  load();
  setInterval(load, refreshSeconds * 1000);
  window.driftDashboard = view;
})();
