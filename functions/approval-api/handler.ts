import type { APIGatewayProxyResultV2 } from 'aws-lambda';

/** `GET|POST /approvals/{id}`: the approval page arrives with the approval release; until then it says so. */
export const handler = async (): Promise<APIGatewayProxyResultV2> => ({
  statusCode: 501,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ message: 'approvals are not implemented yet in this version of Stepline' }),
});
