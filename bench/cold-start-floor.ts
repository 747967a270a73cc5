import { SFNClient } from '@aws-sdk/client-sfn';

/**
 * The cold-start floor of `npm run bench:cold-start`: a Lambda that only creates a Step Functions
 * client, bundled like every Stepline Lambda. The webhook needs at least this much to start a run.
 */
const sfn = new SFNClient({});

export const handler = async (): Promise<string> => sfn.config.serviceId;
