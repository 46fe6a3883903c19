// One key's chart and drift events, refreshed every few seconds from /drift/series and /drift/events.
// Chart.js and chartjs-plugin-annotation are loaded before this file (from npm via staticfiles).
(function () {
  "use strict";
  const canvas = document.getElementById("series-chart");
  const errorBox = document.getElementById("fetch-error");
  const refreshSeconds = Number(document.getElementById("refresh-status").dataset.refreshSeconds) || 10;
  const key = { source_id: canvas.dataset.sourceId, metric: canvas.dataset.metric };
  const state = { chart: null, series: null, events: null, refreshes: 0 };
  const annotationPlugin = window["chartjs-plugin-annotation"];
  if (annotationPlugin) Chart.register(annotationPlugin);

  const COLORS = {
    value: "#8c959f", rolling: "#0969da", baseline: "#2e7d32",
    band: "rgba(46, 125, 50, 0.12)", drift: "rgba(198, 40, 40, 0.16)", driftBorder: "rgba(198, 40, 40, 0.55)",
  };
  const pad = (n) => String(n).padStart(2, "0");
  function formatTime(ms, withDate) {
    const d = new Date(ms);
    const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    return withDate ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${time}` : time;
  }
  const number = (value, digits) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));
  const when = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, "") : "–");

  function createChart() {
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          { label: "value", data: [], borderColor: COLORS.value, backgroundColor: COLORS.value,
            borderWidth: 1, pointRadius: 1.5, order: 3 },
          { label: "rolling mean", data: [], borderColor: COLORS.rolling, backgroundColor: COLORS.rolling,
            borderWidth: 2.5, pointRadius: 0, order: 1 },
          { label: "baseline mean", data: [], borderColor: COLORS.baseline, backgroundColor: COLORS.band,
            borderWidth: 2, borderDash: [6, 4], pointRadius: 0, order: 2 },
          { label: "cusum statistic / threshold", data: [], borderColor: COLORS.drift, backgroundColor: COLORS.drift,
            borderWidth: 1.5, pointRadius: 0, order: 0, yAxisID: "y2", hidden: true },
        ],
      },
      options: {
        animation: false,
        parsing: false,
        normalized: true,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: {
            type: "linear",
            title: { display: true, text: "event time (UTC)" },
            ticks: {
              maxRotation: 0,
              autoSkipPadding: 24,
              callback: (value) => formatTime(value, state.spanMs > 86400000),
            },
          },
          y: { title: { display: true, text: key.metric } },
          y2: { position: "right", display: false, min: 0, grid: { drawOnChartArea: false },
                title: { display: true, text: "cusum statistic / threshold" } },
        },
        plugins: {
          legend: { position: "top" },
          tooltip: { callbacks: { title: (items) => (items.length ? formatTime(items[0].parsed.x, true) : "") } },
          annotation: { annotations: {} },
        },
      },
    });
  }

  function drawSeries(series) {
    const chart = state.chart || (state.chart = createChart());
    const points = series.points;
    document.getElementById("chart-empty").hidden = points.length > 0;
    const xs = points.map((p) => Date.parse(p.event_time));
    const first = xs.length ? xs[0] : null;
    const last = xs.length ? xs[xs.length - 1] : null;
    state.spanMs = xs.length ? last - first : 0;
    chart.data.datasets[0].data = points.map((p, i) => ({ x: xs[i], y: p.value }));
    // cusum keys: the statistic nearest its threshold, as a share of it (1 = the threshold line).
    const cusum = points.some((p) => p.cusum_score !== undefined && p.cusum_score !== null);
    chart.data.datasets[3].data = cusum
      ? points.map((p, i) => ({ x: xs[i], y: p.cusum_score })).filter((p) => p.y !== null) : [];
    chart.data.datasets[3].hidden = !cusum;
    chart.options.scales.y2.display = cusum;
    canvas.dataset.cusumPoints = String(chart.data.datasets[3].data.length);
    chart.data.datasets[1].data = points
      .map((p, i) => ({ x: xs[i], y: p.rolling_mean }))
      .filter((p) => p.y !== null);
    const baseline = series.baseline;
    chart.data.datasets[2].data =
      baseline && baseline.mean !== null && xs.length ? [{ x: first, y: baseline.mean }, { x: last, y: baseline.mean }] : [];

    const annotations = {};
    let yMin, yMax;
    if (series.band && series.band.lower !== null && series.band.upper !== null) {
      annotations.band = {
        type: "box", yMin: series.band.lower, yMax: series.band.upper,
        backgroundColor: COLORS.band, borderWidth: 0, drawTime: "beforeDatasetsDraw",
      };
      yMin = series.band.lower;
      yMax = series.band.upper;
    }
    series.drift_periods.forEach((period, i) => {
      const start = Date.parse(period.start);
      const end = period.end ? Date.parse(period.end) : last;
      if (end === null || (last !== null && start > last) || (first !== null && end < first)) return;
      annotations["drift" + i] = {
        type: "box", xMin: Math.max(start, first), xMax: Math.min(end, last),
        backgroundColor: COLORS.drift, borderColor: COLORS.driftBorder, borderWidth: 1, drawTime: "beforeDatasetsDraw",
        label: { display: true, content: period.end ? "drift" : "drifting", position: { x: "start", y: "start" },
                 color: "#c62828", backgroundColor: "rgba(255,255,255,0.8)", font: { size: 11, weight: "bold" } },
      };
    });
    if (cusum) {
      annotations.cusumThreshold = {
        type: "line", yScaleID: "y2", yMin: 1, yMax: 1, borderColor: COLORS.driftBorder, borderWidth: 1,
        borderDash: [4, 4], label: { display: true, content: "cusum threshold", position: "start" },
      };
    }
    chart.options.plugins.annotation.annotations = annotations;
    chart.options.scales.x.min = first ?? undefined;
    chart.options.scales.x.max = last ?? undefined;
    // Keep the band visible even when every value lies on one side of it.
    chart.options.scales.y.suggestedMin = yMin;
    chart.options.scales.y.suggestedMax = yMax;
    chart.update("none");
    canvas.dataset.points = String(points.length);
    canvas.dataset.periods = String(Object.keys(annotations).filter((k) => k.startsWith("drift")).length);
  }

  function drawFacts(series) {
    const status = series.status;
    const badge = document.getElementById("key-state");
    badge.textContent = status ? status.state : "no state yet";
    badge.className = "badge state-" + (status ? status.state : "UNKNOWN");
    if (status) {
      document.getElementById("fact-state-since").textContent = when(status.state_since);
      document.getElementById("fact-last-event").textContent = when(status.last_event_time);
      document.getElementById("fact-scores").textContent = `${number(status.z_score, 2)} / ${number(status.std_ratio, 2)}`;
    }
    const baseline = series.baseline;
    const latest = (series.baseline_history || [])[0];
    if (baseline) {
      document.getElementById("fact-baseline").textContent =
        `mean ${number(baseline.mean, 4)}, std ${number(baseline.std, 4)}, n=${baseline.count}` +
        (latest && latest.run_id ? `, by DAG run ${latest.run_id}` : "");
    }
  }

  function drawEvents(page) {
    const body = document.querySelector("#events-table tbody");
    const rows = document.createDocumentFragment();
    for (const event of page.results) {
      const tr = document.createElement("tr");
      tr.className = "event-" + event.event_type;
      for (const [text, cls] of [
        [when(event.event_time)], [event.event_type], [number(event.rolling_mean, 4), "num"],
        [number(event.baseline_mean, 4), "num"], [number(event.z_score, 2), "num"],
        [number(event.std_ratio, 2), "num"], [when(event.detected_at)],
      ]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      rows.appendChild(tr);
    }
    if (!page.results.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = 7;
      td.textContent = "No drift events for this key.";
      tr.appendChild(td);
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
  }

  // The baseline's newest versions, each with the Airflow DAG run (run id) that produced it.
  function drawBaselineHistory(versions) {
    const body = document.querySelector("#baseline-history-table tbody");
    const rows = document.createDocumentFragment();
    for (const version of versions) {
      const tr = document.createElement("tr");
      const producer = version.run_id || (version.kind === "rebuild" ? "rebuild" : "run_stack timer / update_baselines");
      for (const [text, cls] of [
        [when(version.recorded_at)], [producer, version.run_id ? "run-id" : "run-id muted"],
        [String(version.events), "num"], [String(version.count), "num"], [number(version.mean, 4), "num"],
        [number(version.std, 4), "num"], [when(version.high_water_mark)],
      ]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      rows.appendChild(tr);
    }
    if (!versions.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = 7;
      td.textContent = "No baseline versions for this key yet.";
      tr.appendChild(td);
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const data = await response.json();
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${JSON.stringify(data)}`);
    return data;
  }

  async function refresh() {
    const params = new URLSearchParams(key);
    try {
      const [series, events] = await Promise.all([
        getJson(canvas.dataset.seriesUrl + "?" + params),
        getJson(canvas.dataset.eventsUrl + "?" + params + "&limit=100"),
      ]);
      state.series = series;
      state.events = events;
      drawSeries(series);
      drawFacts(series);
      drawEvents(events);
      drawBaselineHistory(series.baseline_history || []);
      errorBox.hidden = true;
      state.refreshes += 1;
    } catch (err) {
      errorBox.textContent = "Refresh failed: " + err.message;
      errorBox.hidden = false;
    }
  }

  window.driftDashboard = state;
  refresh();
  setInterval(refresh, refreshSeconds * 1000);
})();
