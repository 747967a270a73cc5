import { localSubstitutions } from '#local/substitutions.ts';
import { render } from '#state-machines/pipeline.ts';

/** The pipeline's ASL as the local runtime renders and runs it. */
export const renderedLocalDefinition = () => render(localSubstitutions);
