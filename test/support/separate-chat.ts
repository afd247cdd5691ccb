/**
 * kong.test.yml with /v1/chat/completions served by the separate plugins again (the
 * `openai` service's llm-auth, llm-guard, llm-rate-limit, llm-audit and its route's
 * llm-guard `{ endpoint: chat.completions }`), as before llm-gateway took the route:
 * for tests of those plugins on chat requests through the bridge. The gateway's route
 * moves to a path no test uses.
 */
export const SEPARATE_CHAT_GUARD = 'config: { endpoint: chat.completions }';

export function withSeparateChatRoute(yml: string): string {
  const gatewayRoute = '      - name: openai-chat-completions\n        paths: ["~/v1/chat/completions$"]';
  if (!yml.includes(gatewayRoute)) throw new Error('kong.test.yml: no llm-gateway chat route to move');
  const anchor = '      - name: openai-completions\n';
  if (!yml.includes(anchor)) throw new Error('kong.test.yml: no openai-completions route');
  const separateRoute = [
    '      - name: openai-chat-completions-separate',
    '        paths: ["~/v1/chat/completions$"]',
    '        methods: [POST]',
    '        strip_path: false',
    '        response_buffering: false',
    '        plugins:',
    '          - name: llm-guard',
    `            ${SEPARATE_CHAT_GUARD}`,
    '',
  ].join('\n');
  return yml
    .replace(gatewayRoute, '      - name: openai-chat-completions\n        paths: ["~/gateway-chat-unused$"]')
    .replace(anchor, separateRoute + anchor);
}
