// Draws the conference dashboard's charts with the vendored Chart.js from the
// figures the page carries in <script id="dashboard-data">; the same figures
// are in the tables under each chart, which is all a browser without the
// library shows.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  if (typeof window.Chart === "undefined") {
    document.getElementById("ibw-chart-missing").hidden = false;
    return;
  }
  const Chart = window.Chart;
  const colors = {
    blue: "#417690", teal: "#2a9d8f", amber: "#e9a23b", red: "#c0392b", grey: "#b8c4cc", violet: "#7a5ea8",
  };
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;

  // Long titles are cut on the axis (the tooltip shows them whole).
  const short = (label) => (label.length > 26 ? label.slice(0, 25) + "…" : label);
  const shortTicks = {
    callback: function (value) {
      const label = this.chart.data.labels[value];
      return Array.isArray(label) ? [short(label[0]), ...label.slice(1)] : short(label);
    },
  };

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) new Chart(canvas, config);
  }
  const stackedBars = (labels, datasets, horizontal) => ({
    type: "bar",
    data: { labels, datasets },
    options: {
      indexAxis: horizontal ? "y" : "x",
      scales: {
        x: { stacked: true, beginAtZero: true, ticks: horizontal ? { precision: 0 } : { autoSkip: true, maxRotation: 60 } },
        y: { stacked: true, beginAtZero: true, ticks: horizontal ? shortTicks : { precision: 0 } },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });

  const hourly = data.hourly;
  draw("chart-hourly", {
    type: "bar",
    data: {
      labels: hourly.labels,
      datasets: [
        { label: "registrations", data: hourly.registered, backgroundColor: colors.blue },
        { label: "check-ins", data: hourly.checked_in, backgroundColor: colors.teal },
      ],
    },
    options: {
      scales: { x: { ticks: { autoSkip: true, maxRotation: 60 } }, y: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom" } },
    },
  });

  const events = data.events;
  draw("chart-events", stackedBars(
    events.map((e) => e.title),
    [
      { label: "going", data: events.map((e) => e.going), backgroundColor: colors.blue },
      { label: "free seats", data: events.map((e) => e.free ?? 0), backgroundColor: colors.grey },
      { label: "waitlist", data: events.map((e) => e.waitlist), backgroundColor: colors.amber },
    ],
    true,
  ));

  const reach = data.reach;
  draw("chart-reach", {
    type: "bar",
    data: {
      labels: ["registered", "started the bot", "notifications on", "can be messaged"],
      datasets: [{
        label: "people",
        data: [reach.registered, reach.started_bot, reach.notify_on, reach.reachable],
        backgroundColor: [colors.grey, colors.blue, colors.blue, colors.teal],
      }],
    },
    options: {
      indexAxis: "y",
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { display: false } },
    },
  });

  data.funnels.forEach((funnel, index) => {
    draw(`chart-funnel-${index}`, {
      type: "bar",
      data: {
        labels: funnel.stages.map((s) => s[0]),
        datasets: [{
          label: "people",
          data: funnel.stages.map((s) => s[1]),
          backgroundColor: funnel.stages.map((s, i) => (i === funnel.stages.length - 1 ? colors.teal : colors.violet)),
        }],
      },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { display: false } },
      },
    });
  });

  const sent = data.broadcasts;
  draw("chart-broadcasts", stackedBars(
    sent.map((b) => [b.title, b.created_at]),
    [
      { label: "sent in-app", data: sent.map((b) => b.sent_in_app), backgroundColor: colors.blue },
      { label: "sent on Telegram", data: sent.map((b) => b.sent_telegram), backgroundColor: colors.teal },
      { label: "failed", data: sent.map((b) => b.failed), backgroundColor: colors.red },
      { label: "blocked the bot", data: sent.map((b) => b.blocked), backgroundColor: colors.amber },
      { label: "waiting", data: sent.map((b) => b.waiting), backgroundColor: colors.grey },
    ],
    true,
  ));
})();
