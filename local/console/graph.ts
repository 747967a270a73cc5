import dagre from '@dagrejs/dagre';
import type { GraphEdge, GraphLayout, GraphNode } from './api-types.ts';

type AslState = {
  Type?: unknown;
  Next?: unknown;
  Default?: unknown;
  Choices?: unknown;
  Catch?: unknown;
};

const nodeHeight = 34;
const charWidth = 7.4;

/** Node width: wide enough for the state's name in the console's font. */
function widthOf(name: string): number {
  return Math.max(96, Math.round(name.length * charWidth + 28));
}

/** The transitions of one state, in the order the ASL lists them. */
function transitionsOf(name: string, state: AslState): Omit<GraphEdge, 'points'>[] {
  const edges: Omit<GraphEdge, 'points'>[] = [];
  if (typeof state.Next === 'string') edges.push({ from: name, to: state.Next, kind: 'next' });
  if (Array.isArray(state.Choices))
    for (const choice of state.Choices as { Next?: unknown }[])
      if (typeof choice?.Next === 'string') edges.push({ from: name, to: choice.Next, kind: 'choice' });
  if (typeof state.Default === 'string') edges.push({ from: name, to: state.Default, kind: 'default' });
  if (Array.isArray(state.Catch))
    for (const rule of state.Catch as { Next?: unknown }[])
      if (typeof rule?.Next === 'string') edges.push({ from: name, to: rule.Next, kind: 'catch' });
  return edges;
}

/**
 * Lays out a state machine's top-level states from its ASL (JSON text) with dagre, top to bottom,
 * as the Step Functions console's graph view draws it: a node per state, an edge per transition
 * (`Next`, each `Choices[].Next`, `Default`) and per `Catch` (drawn dashed by the app). Catch edges
 * weigh little, so the main path stays straight. Parallel and Map states are one node each.
 */
export function layoutDefinition(definition: string): GraphLayout {
  const asl = JSON.parse(definition) as { StartAt?: unknown; States?: Record<string, AslState> };
  const states = asl.States ?? {};
  const graph = new dagre.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 34, edgesep: 12, marginx: 12, marginy: 12 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const name of Object.keys(states))
    graph.setNode(name, { label: name, width: widthOf(name), height: nodeHeight });
  const edges: Omit<GraphEdge, 'points'>[] = [];
  const seen = new Set<string>();
  for (const [name, state] of Object.entries(states)) {
    for (const edge of transitionsOf(name, state)) {
      const key = `${edge.from}\u0000${edge.to}`;
      // One line per pair of states: a Catch to where Next already goes adds nothing to the picture.
      if (seen.has(key) || !(edge.to in states)) continue;
      seen.add(key);
      edges.push(edge);
      graph.setEdge(edge.from, edge.to, { weight: edge.kind === 'catch' ? 0 : 4, minlen: 1 }, key);
    }
  }
  dagre.layout(graph);
  const nodes: GraphNode[] = Object.entries(states).map(([name, state]) => {
    const node = graph.node(name);
    return {
      name,
      type: typeof state.Type === 'string' ? state.Type : 'Unknown',
      x: node.x,
      y: node.y,
      width: node.width,
      height: node.height,
    };
  });
  const layout = graph.graph();
  return {
    width: Math.ceil(layout.width ?? 0),
    height: Math.ceil(layout.height ?? 0),
    startAt: typeof asl.StartAt === 'string' ? asl.StartAt : '',
    nodes,
    edges: edges.map((edge) => ({
      ...edge,
      points: (graph.edge(edge.from, edge.to, `${edge.from}\u0000${edge.to}`)?.points ?? []).map(
        (p: { x: number; y: number }) => ({
          x: Math.round(p.x * 10) / 10,
          y: Math.round(p.y * 10) / 10,
        }),
      ),
    })),
  };
}
