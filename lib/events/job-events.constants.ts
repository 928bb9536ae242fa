/** The reason given to jobs cancelled because their SSE client disconnected. */
export const CLIENT_DISCONNECTED_REASON = 'client-disconnected';
