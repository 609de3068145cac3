import { mount, unmount } from 'svelte';
import { t } from './i18n.svelte.ts';

/**
 * Asks a yes/no question in an in-page dialog (the same accessible one as deploys use) instead of the browser's
 * `confirm()`; answers whether the person confirmed.
 */
export async function ask(question: string, confirmLabel = t('common.confirm'), danger = true): Promise<boolean> {
  const { default: ConfirmDialog } = await import('../components/ConfirmDialog.svelte');
  return new Promise((resolve) => {
    const target = document.body.appendChild(document.createElement('div'));
    let confirmed = false;
    const props = $state({
      open: true,
      title: question,
      confirmLabel,
      danger,
      onConfirm: () => {
        confirmed = true;
      },
      onClose: () => {
        resolve(confirmed);
        // After the dialog's own closing work (focus given back, scroll unlocked).
        setTimeout(() => {
          void unmount(dialog);
          target.remove();
        }, 0);
      },
    });
    const dialog = mount(ConfirmDialog, { target, props });
  });
}
