/**
 * What the server said about this browser's access while pages were open: the session ended (signed out elsewhere,
 * disabled, token revoked: the websocket closed with 4401) or a project was taken away (a subscription ended with
 * FORBIDDEN). App.svelte acts on it: back to sign-in, or a notice and the project list.
 */
export const access = $state<{ ended: boolean; lostProject: boolean; losses: number; signingOut: boolean }>({
  ended: false,
  /** The notice is shown (until dismissed); `losses` counts the times it happened, so each one is acted on. */
  lostProject: false,
  losses: 0,
  // The user's own sign-out ends the socket too: that is no news to them.
  signingOut: false,
});

/** graphql-ws's close code for ended credentials (the server's SocketAccess). */
export const CREDENTIALS_ENDED = 4401;

/** Reads a subscription's error (a close event or GraphQL errors) into `access`; true when access is gone. */
export function noteAccessError(error: unknown): boolean {
  if (error && typeof error === 'object' && 'code' in error && error.code === CREDENTIALS_ENDED) {
    if (!access.signingOut) access.ended = true;
    return true;
  }
  const errors = Array.isArray(error) ? error : [];
  const codes = errors.map((e) => (e as { extensions?: { code?: string } }).extensions?.code);
  if (codes.includes('UNAUTHENTICATED')) {
    if (!access.signingOut) access.ended = true;
    return true;
  }
  if (codes.includes('FORBIDDEN')) {
    access.lostProject = true;
    access.losses++;
    return true;
  }
  return false;
}
