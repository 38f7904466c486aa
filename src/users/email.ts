/**
 * The one normal form of an email address: trimmed and lower-cased. The database stores only this form
 * (CHECK users_email_normalised), so a plain unique index makes emails unique case-insensitively.
 */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}
