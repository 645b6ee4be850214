// Parses a Mermaid diagram with Mermaid's own parser: `node parse.mjs FILE` exits 0 and
// prints the diagram type when FILE is a valid diagram, 1 with Mermaid's error otherwise.
// Mermaid needs a DOM even to parse; jsdom provides one.
import { JSDOM } from 'jsdom';
import { readFileSync } from 'node:fs';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

const text = readFileSync(process.argv[2], 'utf8');
try {
  const result = await mermaid.parse(text);
  console.log(result.diagramType);
} catch (error) {
  console.error(`invalid diagram: ${error.message ?? error}`);
  process.exit(1);
}
