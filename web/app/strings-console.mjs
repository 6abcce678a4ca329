// Strings of the console's frame and of the views written in dashboard.mjs and visit-view.mjs.
// Account views keep theirs in strings-account.mjs.
import { strings as account } from './strings-account.mjs';

const own = {
  en: {
    'nav.dashboard': 'Visits',
    'nav.audit': 'Audit log',
    'nav.settings': 'Settings',
    'nav.signout': 'Sign out',
  },
  fr: {
    'nav.dashboard': 'Consultations',
    'nav.audit': 'Journal d’audit',
    'nav.settings': 'Paramètres',
    'nav.signout': 'Se déconnecter',
  },
};

export const strings = {
  en: { ...own.en, ...account.en },
  fr: { ...own.fr, ...account.fr },
};
