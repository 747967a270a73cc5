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
 * (`Next`, each `Choices[].Next`, `Default`). Dagre places the states by their transitions only;
 * `Catch` edges, which would pull every task towards the failure handler and cross the whole
 * picture, are then routed along a rail to the right of the graph (drawn dashed by the app).
 * Parallel and Map states are one node each.
 */
export function layoutDefinition(definition: string): GraphLayout {
  const asl = JSON.parse(definition) as { StartAt?: unknown; States?: Record<string, AslState> };
  const states = asl.States ?? {};
  const graph = new dagre.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: 'TB', nodesep: 30, ranksep: 30, edgesep: 14, marginx: 14, marginy: 14 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const name of Object.keys(states))
    graph.setNode(name, { label: name, width: widthOf(name), height: nodeHeight });
  const flow: Omit<GraphEdge, 'points'>[] = [];
  const catches: Omit<GraphEdge, 'points'>[] = [];
  const seen = new Set<string>();
  for (const [name, state] of Object.entries(states)) {
    for (const edge of transitionsOf(name, state)) {
      const key = `${edge.from}\u0000${edge.to}`;
      // One line per pair of states: a Catch to where Next already goes adds nothing to the picture.
      if (seen.has(key) || !(edge.to in states)) continue;
      seen.add(key);
      if (edge.kind === 'catch') catches.push(edge);
      else {
        flow.push(edge);
        graph.setEdge(edge.from, edge.to, { weight: edge.kind === 'default' ? 1 : 2 }, key);
      }
    }
  }
  dagre.layout(graph);
  const nodes: GraphNode[] = Object.entries(states).map(([name, state]) => {
    const node = graph.node(name);
    return {
      name,
      type: typeof state.Type === 'string' ? state.Type : 'Unknown',
      x: round(node.x),
      y: round(node.y),
      width: node.width,
      height: node.height,
    };
  });
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const layout = graph.graph();
  const left = Math.min(...nodes.map((node) => node.x - node.width / 2));
  const right = Math.max(...nodes.map((node) => node.x + node.width / 2));
  const rails = { left: left - 22, right: right + 22 };
  /** Nodes a horizontal line at `y` from `x1` to `x2` would run through (the ends' own nodes aside). */
  const crossings = (y: number, x1: number, x2: number, ends: GraphNode[]) =>
    nodes.filter(
      (node) =>
        !ends.includes(node) &&
        Math.abs(node.y - y) < node.height / 2 + 3 &&
        node.x + node.width / 2 > Math.min(x1, x2) &&
        node.x - node.width / 2 < Math.max(x1, x2),
    ).length;
  const routeCatch = (edge: Omit<GraphEdge, 'points'>): GraphEdge => {
    const from = byName.get(edge.from)!;
    const to = byName.get(edge.to)!;
    const route = (side: 'left' | 'right') => {
      const sign = side === 'left' ? -1 : 1;
      const rail = rails[side];
      const fromX = from.x + (sign * from.width) / 2;
      const toX = to.x + (sign * to.width) / 2;
      return {
        cost: crossings(from.y, fromX, rail, [from, to]) + crossings(to.y, rail, toX, [from, to]),
        points: [
          { x: fromX, y: from.y },
          { x: rail, y: from.y },
          { x: rail, y: to.y },
          { x: toX, y: to.y },
        ],
      };
    };
    const preferred = to.x <= (left + right) / 2 ? 'left' : 'right';
    const first = route(preferred);
    const second = route(preferred === 'left' ? 'right' : 'left');
    return { ...edge, points: (second.cost < first.cost ? second : first).points };
  };
  const usesLeft = (edge: GraphEdge) => edge.points.some((p) => p.x === rails.left);
  const routed = catches.map(routeCatch);
  // The left rail lies outside dagre's picture: shift everything right to make room for it.
  const shift = routed.some(usesLeft) ? 14 - rails.left : 0;
  const moved = (p: { x: number; y: number }) => ({ x: round(p.x + shift), y: round(p.y) });
  for (const node of nodes) node.x = round(node.x + shift);
  const edges: GraphEdge[] = [
    ...flow.map((edge) => ({
      ...edge,
      points: (graph.edge(edge.from, edge.to, `${edge.from}\u0000${edge.to}`)?.points ?? []).map(moved),
    })),
    ...routed.map((edge) => ({ ...edge, points: edge.points.map(moved) })),
  ];
  const usesRight = routed.some((edge) => edge.points.some((p) => p.x === round(rails.right + shift)));
  return {
    width: Math.ceil(Math.max((layout.width ?? 0) + shift, usesRight ? rails.right + shift + 14 : 0)),
    height: Math.ceil(layout.height ?? 0),
    startAt: typeof asl.StartAt === 'string' ? asl.StartAt : '',
    nodes,
    edges,
  };
}

const round = (n: number) => Math.round(n * 10) / 10;
