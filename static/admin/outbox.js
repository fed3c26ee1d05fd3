// Replies and notes not yet stored by the server, kept in localStorage so an outage or a reload
// never loses them (the widget's guarantee): one key per reply, omnichat.outbox.<user>.<conversation>
// .<client_id>, holding only {text, private, attachments, refused, at} (attachments: the ids of
// files already uploaded, valid server-side for a day). No token is ever stored here. A resend
// carries the same client_id, so the server stores each reply once however often it is sent.

const PREFIX = "omnichat.outbox.";

function key(userId, conversationId, clientId) {
  return `${PREFIX}${userId}.${conversationId}.${clientId}`;
}

/** Keep a reply until the server has it: {client_id, text, private, refused}. */
export function keep(userId, conversationId, reply) {
  try {
    localStorage.setItem(
      key(userId, conversationId, reply.client_id),
      JSON.stringify({
        text: reply.text,
        private: reply.private,
        attachments: reply.attachments || [],
        refused: reply.refused || null,
        at: reply.at || Date.now(),
      }),
    );
  } catch {
    // Storage full or blocked: the reply still shows, it just will not survive a reload.
  }
}

export function drop(userId, conversationId, clientId) {
  try {
    localStorage.removeItem(key(userId, conversationId, clientId));
  } catch {
    // Nothing to drop where storage is blocked.
  }
}

/**
 * The user's kept replies, oldest first: [{conversation_id, client_id, text, private, refused}],
 * of one conversation when `conversationId` is given.
 */
export function kept(userId, conversationId = null) {
  const found = [];
  let keys;
  try {
    keys = Object.keys(localStorage);
  } catch {
    return found;
  }
  const mine = `${PREFIX}${userId}.`;
  for (const name of keys) {
    if (!name.startsWith(mine)) continue;
    const [conversation, clientId] = name.slice(mine.length).split(".");
    if (conversationId !== null && Number(conversation) !== conversationId) continue;
    try {
      const reply = JSON.parse(localStorage.getItem(name));
      found.push({
        conversation_id: Number(conversation),
        client_id: clientId,
        text: String(reply.text),
        private: Boolean(reply.private),
        attachments: Array.isArray(reply.attachments) ? reply.attachments.filter(Number.isInteger) : [],
        refused: reply.refused || null,
        at: Number(reply.at) || 0,
      });
    } catch {
      localStorage.removeItem(name); // unreadable: nothing we could send
    }
  }
  return found.sort((a, b) => a.at - b.at);
}
