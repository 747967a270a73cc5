import type { GraphLayout, StateOutcome } from '../../local/console/api-types.ts';
import { html } from './html.ts';

const outcomeLabels: Record<StateOutcome, string> = {
  running: 'In progress',
  succeeded: 'Succeeded',
  failed: 'Failed',
  caught: 'Caught error',
  cancelled: 'Cancelled',
  notReached: 'Not reached',
};

function path(points: { x: number; y: number }[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' ');
}

/**
 * The state machine as the Step Functions console draws it: states laid out by dagre on the
 * server, coloured by how their last visit went; a click selects a state.
 */
export function Graph({
  layout,
  states,
  selected,
  onSelect,
}: {
  layout: GraphLayout;
  states: Record<string, StateOutcome | undefined>;
  selected: string | null;
  onSelect: (state: string) => void;
}) {
  const reached = (name: string) => states[name] !== undefined;
  return html`
    <div class="graph-wrap">
      <svg
        class="graph"
        role="img"
        aria-label="State machine graph"
        viewBox=${`0 0 ${layout.width} ${layout.height + 8}`}
        style=${`max-width:${layout.width}px`}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
          </marker>
          <marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="arrowhead taken" />
          </marker>
        </defs>
        ${layout.edges.map((edge) => {
          const taken = reached(edge.from) && reached(edge.to);
          return html`<path
            key=${`${edge.from}->${edge.to}`}
            d=${path(edge.points)}
            class=${`edge edge-${edge.kind}${taken ? ' taken' : ''}`}
            marker-end=${taken ? 'url(#arrow-taken)' : 'url(#arrow)'}
          />`;
        })}
        ${layout.nodes.map((node) => {
          const outcome: StateOutcome = states[node.name] ?? 'notReached';
          const round =
            node.type === 'Choice' ? 17 : node.type === 'Succeed' || node.type === 'Fail' ? 17 : 6;
          return html`
            <g
              key=${node.name}
              class=${`node node-${outcome}${selected === node.name ? ' selected' : ''}`}
              data-state=${node.name}
              data-outcome=${outcome}
              transform=${`translate(${node.x - node.width / 2},${node.y - node.height / 2})`}
              tabindex="0"
              role="button"
              aria-label=${`${node.name}: ${outcomeLabels[outcome]}`}
              onClick=${() => onSelect(node.name)}
              onKeyDown=${(e: KeyboardEvent) => {
                if (e.key === 'Enter' || e.key === ' ') onSelect(node.name);
              }}
            >
              <title>${`${node.name} (${node.type}): ${outcomeLabels[outcome]}`}</title>
              <rect width=${node.width} height=${node.height} rx=${round} ry=${round} />
              <text x=${node.width / 2} y=${node.height / 2 + 4.5} text-anchor="middle">${node.name}</text>
            </g>
          `;
        })}
      </svg>
    </div>
    <ul class="legend" aria-label="Legend">
      ${(['running', 'succeeded', 'failed', 'caught', 'cancelled', 'notReached'] as const).map(
        (outcome) => html`<li><span class=${`swatch node-${outcome}`}></span>${outcomeLabels[outcome]}</li>`,
      )}
    </ul>
  `;
}
