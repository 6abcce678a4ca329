// Strings of the account views (auth, enroll, settings, audit, activate, reset).
export const strings = { en: {}, fr: {} };
