// archscope's HTML report: fold the table by depth, filter it, link its rows to the diagram.
// Hand-written and dependency-free (docs/graph.md says why); it reads what report/html/page.py
// writes: the table rows' data-* attributes, the JSON in #as-data and the <template>s of the
// diagram, one per fold state.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("as-data").textContent);
  const rows = Array.from(document.querySelectorAll(".as-table:not(.as-by-type) tbody tr"));
  const pane = document.getElementById("as-graph");
  const tip = document.getElementById("as-tip");
  const status = document.getElementById("as-status");
  const unfold = document.getElementById("as-unfold");
  let variant = null;
  let selected = null;

  // ------------------------------------------------------------------ the table

  rows.forEach(function (row, i) {
    row.dataset.index = String(i);
    row.dataset.keep = row.hidden ? "" : "1"; // the root row: shown only if its own code ran
    const depth = Number(row.dataset.depth);
    row.dataset.open = row.dataset.leaf === "1" ? "" : String(depth < data.depth);
    const toggle = row.querySelector(".as-toggle");
    if (toggle) {
      toggle.addEventListener("click", function (event) {
        event.stopPropagation();
        setOpen(row, row.dataset.open !== "true");
        refresh();
      });
    }
    row.addEventListener("click", function () { select(row, true); });
  });

  function setOpen(row, open) {
    if (row.dataset.leaf === "1" || Number(row.dataset.depth) === 0) return;
    row.dataset.open = String(open);
    row.querySelectorAll("[data-folded]").forEach(function (cell) {
      cell.textContent = open ? cell.dataset.open : cell.dataset.folded;
    });
    const toggle = row.querySelector(".as-toggle");
    if (toggle) toggle.textContent = open ? "▾" : "▸";
  }

  function ancestors(index) {
    // the rows enclosing row ``index``: the nearest earlier row of each smaller depth
    const out = [];
    let depth = Number(rows[index].dataset.depth);
    for (let i = index - 1; i >= 0 && depth > 1; i--) {
      const d = Number(rows[i].dataset.depth);
      if (d >= 1 && d < depth) { out.push(rows[i]); depth = d; }
    }
    return out;
  }

  function refresh() {
    const query = document.getElementById("as-filter").value.trim().toLowerCase();
    const matched = new Set();
    if (query) {
      rows.forEach(function (row, i) {
        if (row.dataset.name.toLowerCase().includes(query)) {
          matched.add(row);
          ancestors(i).forEach(function (a) { matched.add(a); });
        }
      });
    }
    const stack = []; // open state of the enclosing rows, by depth
    let shown = 0;
    rows.forEach(function (row) {
      const depth = Number(row.dataset.depth);
      stack.length = Math.max(depth - 1, 0);
      let visible = depth === 0 ? row.dataset.keep === "1" : stack.every(Boolean);
      if (query) visible = matched.has(row);
      row.hidden = !visible;
      if (visible) shown++;
      if (depth >= 1) stack[depth - 1] = row.dataset.open === "true";
    });
    document.getElementById("as-count").textContent =
      query ? shown + " of " + rows.length + " rows match" : shown + " of " + rows.length + " rows shown";
  }

  function setDepth(depth) {
    rows.forEach(function (row) { setOpen(row, depth === 0 || Number(row.dataset.depth) < depth); });
    document.querySelectorAll("#as-depths button").forEach(function (b) {
      b.classList.toggle("as-on", Number(b.dataset.depth) === depth);
    });
    refresh();
  }

  document.querySelectorAll("#as-depths button").forEach(function (b) {
    b.addEventListener("click", function () { setDepth(Number(b.dataset.depth)); });
  });
  document.getElementById("as-filter").addEventListener("input", refresh);

  // ------------------------------------------------------------------ the diagram

  function undoDotName(text) { // report/dot.py's dot_name, undone: ~HH is the character of hex code HH
    return text.replace(/~([0-9A-F]{2})/g, function (_, hex) { return String.fromCharCode(parseInt(hex, 16)); });
  }

  function titleOf(g) {
    return g.dataset.id;
  }

  function show(key) {
    const template = document.getElementById("as-variant-" + data.variants[key]);
    if (!template || variant === key) return;
    pane.replaceChildren(template.content.cloneNode(true));
    variant = key;
    pane.querySelectorAll("g.node, g.cluster").forEach(function (g) {
      const title = g.querySelector(":scope > title");
      g.dataset.id = title ? undoDotName(title.textContent) : "";
      if (title) title.remove(); // our tooltip replaces the browser's
      g.querySelectorAll("a").forEach(function (a) { a.removeAttribute("xlink:title"); a.removeAttribute("title"); });
    });
    pane.querySelectorAll("g.node").forEach(function (g) {
      g.addEventListener("mouseenter", function (event) { hover(g, event); });
      g.addEventListener("mousemove", place);
      g.addEventListener("mouseleave", function () { tip.hidden = true; });
      g.addEventListener("click", function (event) { event.stopPropagation(); clickNode(g); });
    });
    pane.querySelectorAll("g.cluster").forEach(function (g) {
      const run = runOfCluster(titleOf(g));
      if (run === null) return;
      g.classList.add("as-fold");
      g.addEventListener("click", function (event) {
        event.stopPropagation();
        const open = variant !== "";
        show(open ? "" : (run in data.variants ? run : "*"));
        reveal(findShape(open ? run : data.runs[run].units[1]));
        say(open ? data.runs[run].title + " folded again"
                 : data.runs[run].title + " expanded: click the frame of one of its blocks to fold it again");
      });
    });
    if (unfold) unfold.textContent = key === "" ? "Expand repeats" : "Fold repeats";
    fit(false);
    if (selected) highlight(selected, false);
  }

  function runOfCluster(id) {
    // the run a cluster belongs to: its drawn frame when folded, any of its blocks when expanded
    if (!id.startsWith("cluster_")) return null;
    const name = id.slice("cluster_".length).replace(/×$/, "");
    for (const key in data.runs) {
      const run = data.runs[key];
      if (variant === "" ? key === name : (variant === key || variant === "*") && run.units.includes(name)) return key;
    }
    return null;
  }

  function say(text) { status.textContent = text; }

  function hover(g, event) {
    const node = data.nodes[titleOf(g)];
    if (!node) return;
    const layer = data.layers[node.name];
    const lines = [["", node.name || node.type]];
    lines.push(["type", layer ? layer.type : node.type]);
    if (node.ins.length) lines.push(["in", node.ins.join(", ")]);
    lines.push(["out", layer && layer.out ? layer.out : node.outs.join(", ") || "—"]);
    if (layer) {
      lines.push(["params", layer.params]);
      lines.push([data.cost, layer.macs]);
      if (layer.check) lines.push(["expected", layer.check]);
    }
    if (node.stands) lines.push(["", "drawn once for " + node.stands]);
    tip.replaceChildren();
    lines.forEach(function (pair) {
      const div = document.createElement("div");
      if (pair[0]) {
        const b = document.createElement("b");
        b.textContent = pair[0] + " ";
        div.appendChild(b);
      } else {
        div.className = "as-tip-head";
      }
      div.appendChild(document.createTextNode(pair[1]));
      tip.appendChild(div);
    });
    tip.hidden = false;
    place(event);
  }

  function place(event) {
    const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }

  // ------------------------------------------------------------------ linking rows and nodes

  function clickNode(g) {
    const id = titleOf(g);
    if (variant === "" && id in data.runs) { // a collapsed module that stands for a folded run: open it
      show(id in data.variants ? id : "*");
      say(data.runs[id].title + " expanded: 'Fold repeats' folds it again");
      g = findShape(id) || g;
    }
    const node = data.nodes[id];
    const name = node ? node.name : "";
    const call = node ? node.call : 1;
    const matches = rows.filter(function (r) { return r.dataset.name === name; });
    const row = matches[Math.min(call, matches.length) - 1];
    if (!row) {
      say((node ? node.type : titleOf(g)) + " is a function between layers: it has no row of its own");
      markNode(g);
      return;
    }
    select(row, false);
  }

  function select(row, fromTable) {
    if (selected) selected.classList.remove("as-selected");
    selected = row;
    row.classList.add("as-selected");
    ancestors(Number(row.dataset.index)).forEach(function (a) { setOpen(a, true); });
    if (!fromTable) {
      document.getElementById("as-filter").value = "";
      refresh();
      row.scrollIntoView({block: "center"});
    }
    highlight(row, true);
  }

  function findShape(name) {
    // the diagram element drawn for layer ``name``: its node, its cluster, or the node it is collapsed into
    const nodes = Array.from(pane.querySelectorAll("g.node"));
    for (let probe = name; probe; probe = probe.includes(".") ? probe.slice(0, probe.lastIndexOf(".")) : "") {
      const node = nodes.find(function (g) { return titleOf(g) === probe; });
      if (node) return node;
      const cluster = pane.querySelector('g.cluster[data-id="' + CSS.escape("cluster_" + probe) + '"]');
      if (cluster) return cluster;
    }
    return null;
  }

  function hiddenIn(name) {
    // the folded run whose units 2..k hold ``name`` (drawn only as unit 1), or null
    for (const key in data.runs) {
      const units = data.runs[key].units;
      for (let i = 1; i < units.length; i++) {
        if (name === units[i] || name.startsWith(units[i] + ".")) return key;
      }
    }
    return null;
  }

  function highlight(row, scroll) {
    const name = row.dataset.name;
    const run = variant === "" ? hiddenIn(name) : null;
    if (run !== null) {
      show(run in data.variants ? run : "*");
      say(data.runs[run].title + " expanded to show " + name);
    }
    const shape = name ? findShape(name) : null;
    if (!shape) {
      markNode(null);
      if (name) say(name + " is not drawn in this diagram");
      return;
    }
    markNode(shape);
    if (scroll) reveal(shape);
  }

  function reveal(shape) {
    // scroll the diagram so that ``shape`` is in the middle of the pane
    if (!shape) return;
    const box = shape.getBoundingClientRect();
    const area = pane.getBoundingClientRect();
    pane.scrollBy({left: box.left + box.width / 2 - area.left - area.width / 2,
                   top: box.top + box.height / 2 - area.top - area.height / 2});
  }

  function markNode(g) {
    pane.querySelectorAll(".as-hl").forEach(function (e) { e.classList.remove("as-hl"); });
    if (g) g.classList.add("as-hl");
  }

  // ------------------------------------------------------------------ zoom

  let zoom = 1;
  function fit(toPane) {
    const svg = pane.querySelector("svg");
    if (!svg) return;
    const width = svg.viewBox.baseVal.width || svg.getBBox().width;
    if (!svg.dataset.natural) svg.dataset.natural = String(width);
    if (toPane !== false) zoom = Math.min(1, (pane.clientWidth - 24) / width);
    svg.style.width = Math.round(width * zoom) + "px";
    svg.style.height = "auto";
    document.getElementById("as-zoom").textContent = Math.round(zoom * 100) + "%";
  }
  document.getElementById("as-fit").addEventListener("click", function () { fit(true); });
  document.getElementById("as-in").addEventListener("click", function () { zoom *= 1.25; fit(false); });
  document.getElementById("as-out").addEventListener("click", function () { zoom /= 1.25; fit(false); });
  if (unfold) {
    unfold.addEventListener("click", function () {
      show(variant === "" ? "*" : "");
      say(variant === "" ? "repeated blocks folded" : "every repeated block drawn");
    });
  }
  pane.addEventListener("click", function () { markNode(null); });

  if (data.variants[""] !== undefined) {
    show("");
    fit(true);
  }
  setDepth(data.depth);
})();
