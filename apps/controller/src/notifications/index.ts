export { type Channel, createChannel, DeliveryError } from './channels/index.ts';
export {
  type ChannelConfig,
  ChannelSchema,
  type ChannelType,
  checkNotifications,
  NOTIFICATION_KINDS,
  type NotificationKind,
  type NotificationsConfig,
  NotificationsSchema,
  prepareNotifications,
  secretEnvName,
} from './config.ts';
export { formatDuration, formatTime, type Notification, type Severity } from './notification.ts';
export {
  type ChannelStatus,
  type Delivery,
  NOTIFICATION_JOB,
  Notifier,
  type NotifierEvents,
  type NotifierOptions,
  type Suppression,
  type TestResult,
  testChannel,
  timelineLink,
} from './notifier.ts';
export type { DeliveryFailure } from './store.ts';
