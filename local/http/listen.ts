import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Starts `server` on `host:port` (0: a free port). When the port is taken and `fallbackPort` is
 * given, listens there instead (0: any free port), so a stand-in that prefers its previous port
 * still starts. Resolves with the port it got and its `http://` URL.
 */
export async function listen(
  server: Server,
  host: string,
  port: number,
  options: { fallbackPort?: number } = {},
): Promise<{ port: number; url: string }> {
  const attempt = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await attempt(port);
  } catch (error) {
    if (options.fallbackPort === undefined || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE')
      throw error;
    await attempt(options.fallbackPort);
  }
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { port: address.port, url: `http://${urlHost}:${address.port}` };
}
