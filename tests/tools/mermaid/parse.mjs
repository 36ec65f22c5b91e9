// Parse and render Mermaid diagrams with Mermaid itself, headless: one Node process for many diagrams.
// stdin: a JSON list of {text, database, render}. stdout: a JSON list, one result per diagram, in order:
//   {ok: false, error}: Mermaid rejected the text, or
//   {ok: true, type, config}: config is what %%{init}%% directives set ({} when there is none);
//     with database: a flowchart's nodes, edges and classDefs, an xychart's title, axes and plots,
//       as Mermaid holds them (a second parse);
//     with render: svg, every element name in the rendered SVG with its count and its visible texts.
// A parse takes 10 to 50 ms here, a render 100 ms or more: ask only for what a test looks at.
import { JSDOM } from "jsdom";

// Mermaid sanitises labels with DOMPurify, which needs a window when its module loads (without one
// parsing fails: "DOMPurify.addHook is not a function"); rendering needs a document too.
const dom = new JSDOM("<!DOCTYPE html><body></body>", { pretendToBeVisual: true });
for (const name of ["window", "document", "navigator", "CSSStyleSheet", "Element", "HTMLElement", "SVGElement",
  "Node", "DOMParser", "XMLSerializer", "getComputedStyle"]) {
  globalThis[name] = name === "window" ? dom.window : dom.window[name];
}
// jsdom does no layout: give text a size (10 px a character) so the layout code has numbers to use.
// The sizes only move things; what is drawn and its text come from Mermaid.
const measure = function () {
  return { x: 0, y: 0, width: 10 * Math.max(this.textContent.length, 1), height: 16 };
};
dom.window.SVGElement.prototype.getBBox = measure;
dom.window.SVGElement.prototype.getComputedTextLength = function () { return measure.call(this).width; };

const { default: mermaid } = await import("mermaid");
console.log = console.info = console.warn = console.error; // stdout carries the JSON answer only
mermaid.initialize({ startOnLoad: false }); // otherwise Mermaid's defaults, as GitHub's page would use

// Until it renders, Mermaid holds label entities (#quot; #35;) as private characters; this is its own
// decodeEntities, so labels come back as HTML entities (the test unescapes them).
const decode = (text) => String(text ?? "").replace(/ﬂ°°/g, "&#").replace(/ﬂ°/g, "&").replace(/¶ß/g, ";");

function database(diagram) {
  const db = diagram.db;
  if (diagram.type.startsWith("flowchart")) {
    return {
      nodes: [...db.getVertices().values()].map((v) => ({ id: v.id, label: decode(v.text), shape: v.type, classes: v.classes })),
      edges: db.getEdges().map((e) => ({ from: e.start, to: e.end, label: decode(e.text), stroke: e.stroke })),
      classes: Object.fromEntries([...db.getClasses().entries()].map(([name, c]) => [name, c.styles])),
    };
  }
  if (diagram.type === "xychart") {
    const { xAxis, yAxis, plots } = db.getXYChartData();
    return { title: decode(db.getDiagramTitle()), xAxis, yAxis, plots };
  }
  return {};
}

function svgShape(svg) {
  const root = new dom.window.DOMParser().parseFromString(svg, "text/html").body;
  const elements = {};
  for (const el of root.querySelectorAll("*")) elements[el.localName] = (elements[el.localName] ?? 0) + 1;
  const texts = [];
  const walker = dom.window.document.createTreeWalker(root, dom.window.NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.localName !== "style" && node.data.trim()) texts.push(node.data);
  }
  return { elements, texts };
}

const requests = JSON.parse(await new Promise((resolve) => {
  let input = "";
  process.stdin.setEncoding("utf8").on("data", (chunk) => (input += chunk)).on("end", () => resolve(input));
}));
const results = [];
for (const [i, { text, database: withDatabase, render }] of requests.entries()) {
  try {
    const { diagramType, config } = await mermaid.parse(text);
    const result = { ok: true, type: diagramType, config };
    // mermaid.parse keeps its diagram to itself; this is the same text through the same parser.
    if (withDatabase) Object.assign(result, database(await mermaid.mermaidAPI.getDiagramFromText(text)));
    if (render) result.svg = svgShape((await mermaid.render(`d${i}`, text)).svg);
    results.push(result);
  } catch (error) {
    results.push({ ok: false, error: String(error?.message ?? error) });
  }
}
process.stdout.write(JSON.stringify(results));
