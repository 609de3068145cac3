import { graphql } from './graphql.ts';

export const Login = graphql(`
  mutation Login($login: String!, $password: String!) { login(login: $login, password: $password) { user { id } } }
`);
export const Logout = graphql(`mutation Logout { logout }`);

export const Projects = graphql(`
  query Projects {
    projects {
      id name ready initError sourceType viewerRole liveRelease { tag targets { id } } freeze { reason }
      targets { verification { state } }
    }
  }
`);

export const TicketList = graphql(`
  query TicketList(
    $projectId: ID!, $states: [TicketState!], $authorId: ID, $search: String, $createdAfter: DateTime,
    $createdBefore: DateTime, $after: String
  ) {
    project(id: $projectId) { id name viewerRole lastEventId freeze { reason until } members { user { id login name } } }
    tickets(
      projectId: $projectId, states: $states, authorId: $authorId, search: $search, createdAfter: $createdAfter,
      createdBefore: $createdBefore, first: 20, after: $after
    ) {
      edges { cursor node { id kind state reason paths createdAt updatedAt author { id login name } environment { name } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const TicketEvents = graphql(`
  subscription TicketEvents($projectId: ID!, $afterEventId: ID) {
    ticketEvents(projectId: $projectId, afterEventId: $afterEventId) { id action to ticket { id } }
  }
`);

export const NewTicketPage = graphql(`
  query NewTicketPage($projectId: ID!) {
    project(id: $projectId) { id name sourceType sourceUrl branch }
    stagingPaths(projectId: $projectId, prefix: "", first: 1)
  }
`);

export const StagingPaths = graphql(`
  query StagingPaths($projectId: ID!, $prefix: String!, $first: Int) {
    stagingPaths(projectId: $projectId, prefix: $prefix, first: $first)
  }
`);

export const SubmitTicket = graphql(`
  mutation SubmitTicket($input: SubmitTicketInput!) { submitTicket(input: $input) { id } }
`);

export const TicketPage = graphql(`
  query TicketPage($id: ID!) {
    ticket(id: $id) {
      id kind state reason paths createdAt updatedAt stagedRevision stagingUrl availableActions
      approvalsNeeded approvers { id name }
      author { id login name }
      project {
        id name viewerRole requiredApprovals allowSelfApproval deployMode lastEventId batchSize nextReleaseTag freeze { reason until }
        liveRelease { tag } targets { id name canary environment { id } }
        environments { id name }
      }
      environment { id name requiredApprovals bakeMinutes liveRelease { tag } freeze { reason until } }
      release { id tag liveIn { name } }
      repairTargets { id name }
      reverts { id reason release { tag } }
      revertedBy { id state }
      revertCheck { ok }
      scheduledAt scheduledBy { login name }
      events { id action from to comment message { key params { name value } } at actor { login name } }
      approvals { at comment approver { login name } }
      changes { path change binary diff truncated }
      deployResults { targetName outcome bytesSent filesChanged durationMs error }
      jobs { id kind state attempts error createdAt startedAt finishedAt }
    }
  }
`);

export const TicketUpdates = graphql(`
  subscription TicketUpdates($projectId: ID!, $afterEventId: ID) {
    ticketEvents(projectId: $projectId, afterEventId: $afterEventId) { id ticket { id } }
  }
`);

export const JobsEnded = graphql(`
  subscription JobsEnded($projectId: ID!) { jobsEnded(projectId: $projectId) { id kind state } }
`);

export const JobLogBatch = graphql(`
  subscription JobLogBatch($jobId: ID!, $afterSeq: Int) {
    jobLogBatch(jobId: $jobId, afterSeq: $afterSeq) { firstSeq lastSeq seqs streams texts }
  }
`);

export const ReturnTicket = graphql(
  `mutation ReturnTicket($id: ID!, $comment: String) { returnTicket(id: $id, comment: $comment) { id } }`,
);
export const ResubmitTicket = graphql(
  `mutation ResubmitTicket($id: ID!, $comment: String) { resubmitTicket(id: $id, comment: $comment) { id } }`,
);
export const PassTest = graphql(
  `mutation PassTest($id: ID!, $comment: String) { passTest(id: $id, comment: $comment) { id } }`,
);
export const ApproveTicket = graphql(
  `mutation ApproveTicket($id: ID!, $comment: String) { approveTicket(id: $id, comment: $comment) { id } }`,
);
export const RejectTicket = graphql(
  `mutation RejectTicket($id: ID!, $comment: String!) { rejectTicket(id: $id, comment: $comment) { id } }`,
);
export const ScheduleDeploy = graphql(
  `mutation ScheduleDeploy($id: ID!, $at: DateTime!) { scheduleDeploy(id: $id, at: $at) { id scheduledAt } }`,
);
export const UnscheduleDeploy = graphql(`mutation UnscheduleDeploy($id: ID!) { unscheduleDeploy(id: $id) { id } }`);
export const DeployTicket = graphql(`
  mutation DeployTicket($id: ID!, $deleteUnknown: Boolean) { deployTicket(id: $id, deleteUnknown: $deleteUnknown) { id } }
`);
export const RetryDeploy = graphql(`
  mutation RetryDeploy($id: ID!, $deleteUnknown: Boolean) { retryDeploy(id: $id, deleteUnknown: $deleteUnknown) { id } }
`);
export const CancelTicket = graphql(
  `mutation CancelTicket($id: ID!, $comment: String) { cancelTicket(id: $id, comment: $comment) { id } }`,
);

export const Releases = graphql(`
  query Releases($projectId: ID!) {
    project(id: $projectId) {
      id name viewerRole deployMode verifyIntervalMinutes
      environments {
        id name position requiredApprovals bakeMinutes frozen freeze { reason until }
        liveRelease { id tag number } liveSince targets { id }
      }
      targets {
        id name host path release { tag } environment { id name }
        verification { state checkedAt driftedCount error currentRelease release { tag } drifted { path change diff } }
      }
      liveHistory(last: 30) { at release { tag } environment { name } ticket { id kind reason author { name } } }
    }
    releases(projectId: $projectId) {
      id tag number live bad createdAt commit targets { id } liveIn { id name }
      ticket { id kind state reason author { login name } }
    }
  }
`);
export const RequestRollback = graphql(`
  mutation RequestRollback($releaseId: ID!, $reason: String!, $environmentId: ID) {
    requestRollback(releaseId: $releaseId, reason: $reason, environmentId: $environmentId) { id }
  }
`);
export const RequestRevert = graphql(`
  mutation RequestRevert($ticketId: ID!, $reason: String!) { requestRevert(ticketId: $ticketId, reason: $reason) { id } }
`);
export const RevertCheck = graphql(`
  query RevertCheck($id: ID!) {
    ticket(id: $id) {
      id reason release { id tag }
      environment { name liveRelease { tag } }
      revertCheck { ok code message builtOn { id tag } conflicts { id reason release { tag } author { name } } }
    }
  }
`);
export const RequestPromotion = graphql(`
  mutation RequestPromotion($releaseId: ID!, $environmentId: ID!, $reason: String!) {
    requestPromotion(releaseId: $releaseId, environmentId: $environmentId, reason: $reason) { id }
  }
`);

export const VerifyTargets = graphql(
  `mutation VerifyTargets($projectId: ID!) { verifyTargets(projectId: $projectId) { id state } }`,
);
export const JobState = graphql(`query JobState($id: ID!) { job(id: $id) { id state error } }`);
export const JobUpdated = graphql(`subscription JobUpdated($id: ID!) { jobUpdated(jobId: $id) { id state error } }`);
export const RequestRepair = graphql(`
  mutation RequestRepair($projectId: ID!, $targetIds: [ID!]!, $reason: String!) {
    requestRepair(projectId: $projectId, targetIds: $targetIds, reason: $reason) { id }
  }
`);

export const Channels = graphql(`
  query Channels($projectId: ID!) {
    project(id: $projectId) { id notificationChannels { id kind name url signed events language emailTo } }
  }
`);
export const AddChannel = graphql(`
  mutation AddChannel($projectId: ID!, $input: NotificationChannelInput!) {
    addNotificationChannel(projectId: $projectId, input: $input) { id }
  }
`);
export const UpdateChannel = graphql(`
  mutation UpdateChannel($id: ID!, $input: NotificationChannelInput!) {
    updateNotificationChannel(id: $id, input: $input) { id }
  }
`);
export const ChannelDeliveries = graphql(`
  query ChannelDeliveries($projectId: ID!) {
    project(id: $projectId) {
      id
      notificationChannels {
        id deliveries(first: 20) { id event at attempts status responseStatus responseBody error ticketId }
      }
    }
  }
`);
export const Redeliver = graphql(`mutation Redeliver($id: ID!) { redeliver(deliveryId: $id) { id status } }`);
export const RemoveChannel = graphql(`mutation RemoveChannel($id: ID!) { removeNotificationChannel(id: $id) }`);
export const TestChannel = graphql(`mutation TestChannel($id: ID!) { testNotificationChannel(id: $id) { id } }`);

export const AdminData = graphql(`
  query AdminData {
    users { id login name isAdmin disabled directory createdAt memberships { role project { id name } } }
    projects(includeArchived: true) {
      id name sourceType sourceUrl branch stagingPath stagingUrl deployMode keepReleases excludes parallelism batchSize
      requiredApprovals allowSelfApproval allowAuthorPassTest allowSvnExternals alwaysFullSync deployTimeoutMinutes
      sshKeyPath knownHostsPath sourceSshKeyPath sourceCaFile sharedPaths preDeploy postDeploy healthCheckUrl
      healthCheckTimeoutSeconds bandwidthLimit pool ready initError verifyIntervalMinutes verifyBeforeDeploy archived
      initFailure { key params { name value } }
      sourceCredentials { username set }
      targets { id name host port user path position canary trustedHostKey { type fingerprint } environment { id } }
      environments { id name position requiredApprovals bakeMinutes parallelism batchSize liveRelease { tag } }
      members { role user { id login name } }
    }
  }
`);
export const ProjectSettingsPage = graphql(`
  query ProjectSettingsPage($id: ID!) {
    project(id: $id) {
      id name viewerRole sourceType sourceUrl branch stagingPath stagingUrl deployMode keepReleases excludes sharedPaths
      parallelism batchSize requiredApprovals allowSelfApproval allowAuthorPassTest allowSvnExternals alwaysFullSync
      deployTimeoutMinutes sshKeyPath knownHostsPath sourceSshKeyPath sourceCaFile preDeploy postDeploy healthCheckUrl
      healthCheckTimeoutSeconds bandwidthLimit pool ready initError verifyIntervalMinutes verifyBeforeDeploy
      initFailure { key params { name value } }
      sourceCredentials { username set }
      targets { id name host port user path position canary trustedHostKey { type fingerprint } environment { id } }
      environments {
        id name position requiredApprovals bakeMinutes parallelism batchSize liveRelease { tag }
        freezeReason freeze { reason until }
      }
      members { role user { id login name } }
    }
  }
`);
export const UsersToAdd = graphql(`query UsersToAdd { users { id login name disabled } }`);
export const ResetPassword = graphql(`
  mutation ResetPassword($userId: ID!, $newPassword: String!) { resetPassword(userId: $userId, newPassword: $newPassword) { id } }
`);
export const SetUserDisabled = graphql(`
  mutation SetUserDisabled($userId: ID!, $disabled: Boolean!) { setUserDisabled(userId: $userId, disabled: $disabled) { id disabled } }
`);
export const ChangePassword = graphql(`
  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
    changePassword(currentPassword: $currentPassword, newPassword: $newPassword)
  }
`);
export const ArchiveProject = graphql(`mutation ArchiveProject($id: ID!) { archiveProject(id: $id) { id archived } }`);
export const UnarchiveProject = graphql(
  `mutation UnarchiveProject($id: ID!) { unarchiveProject(id: $id) { id archived } }`,
);
export const UpdateTarget = graphql(
  `mutation UpdateTarget($id: ID!, $input: TargetInput!) { updateTarget(id: $id, input: $input) { id } }`,
);
export const SetTargetOrder = graphql(`
  mutation SetTargetOrder($projectId: ID!, $targetIds: [ID!]!) { setTargetOrder(projectId: $projectId, targetIds: $targetIds) { id } }
`);
export const TestTarget = graphql(`mutation TestTarget($id: ID!) { testTarget(id: $id) { id } }`);
export const TrustHostKey = graphql(`
  mutation TrustHostKey($targetId: ID!, $fingerprint: String!) {
    trustHostKey(targetId: $targetId, fingerprint: $fingerprint) { id trustedHostKey { type fingerprint } }
  }
`);
export const SshPublicKey = graphql(`query SshPublicKey { sshPublicKey }`);
export const TargetCheckJob = graphql(`
  query TargetCheckJob($id: ID!) {
    job(id: $id) {
      id state error
      targetCheck {
        ok reachable hostKeyKnown signedIn rsyncPresent pathWritable problem
        hostKey { type fingerprint known changedFrom }
      }
    }
  }
`);
export const Profile = graphql(`
  query Profile { me { id login name email mobile directory apiTokens { id name createdAt lastUsedAt } } }
`);
export const UpdateMe = graphql(`
  mutation UpdateMe($input: UpdateMeInput!) { updateMe(input: $input) { id name email mobile } }
`);
export const CreateUser = graphql(`mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { id } }`);
export const CreateApiToken = graphql(
  `mutation CreateApiToken($name: String!) { createApiToken(name: $name) { token } }`,
);
export const RevokeApiToken = graphql(`mutation RevokeApiToken($id: ID!) { revokeApiToken(id: $id) }`);
export const CreateProject = graphql(
  `mutation CreateProject($input: CreateProjectInput!) { createProject(input: $input) { id } }`,
);
export const UpdateProject = graphql(`
  mutation UpdateProject($id: ID!, $input: UpdateProjectInput!) { updateProject(id: $id, input: $input) { id } }
`);
export const AddEnvironment = graphql(`
  mutation AddEnvironment($projectId: ID!, $input: EnvironmentInput!) { addEnvironment(projectId: $projectId, input: $input) { id } }
`);
export const UpdateEnvironment = graphql(`
  mutation UpdateEnvironment($id: ID!, $input: EnvironmentInput!) { updateEnvironment(id: $id, input: $input) { id } }
`);
export const RemoveEnvironment = graphql(`mutation RemoveEnvironment($id: ID!) { removeEnvironment(id: $id) }`);
export const SetEnvironmentOrder = graphql(`
  mutation SetEnvironmentOrder($projectId: ID!, $environmentIds: [ID!]!) {
    setEnvironmentOrder(projectId: $projectId, environmentIds: $environmentIds) { id }
  }
`);
export const FreezeEnvironment = graphql(`
  mutation FreezeEnvironment($environmentId: ID!, $reason: String!, $until: DateTime) {
    freezeEnvironment(environmentId: $environmentId, reason: $reason, until: $until) { id }
  }
`);
export const UnfreezeEnvironment = graphql(
  `mutation UnfreezeEnvironment($environmentId: ID!) { unfreezeEnvironment(environmentId: $environmentId) { id } }`,
);
export const AddTarget = graphql(
  `mutation AddTarget($projectId: ID!, $input: TargetInput!) { addTarget(projectId: $projectId, input: $input) { id } }`,
);
export const SetSourceCredentials = graphql(`
  mutation SetSourceCredentials($projectId: ID!, $username: String!, $secret: String!) {
    setSourceCredentials(projectId: $projectId, username: $username, secret: $secret) { id }
  }
`);
export const ClearSourceCredentials = graphql(
  `mutation ClearSourceCredentials($projectId: ID!) { clearSourceCredentials(projectId: $projectId) { id } }`,
);
export const RemoveTarget = graphql(`mutation RemoveTarget($id: ID!) { removeTarget(id: $id) }`);
export const SetMember = graphql(`
  mutation SetMember($projectId: ID!, $userId: ID!, $role: Role) { setMember(projectId: $projectId, userId: $userId, role: $role) { id } }
`);

export const MyWork = graphql(`
  query MyWork {
    myWork {
      count
      toTest { id state reason paths updatedAt author { name } project { id name } }
      toApprove { id state reason paths updatedAt author { name } project { id name } }
      toDeploy { id state reason paths updatedAt author { name } project { id name } }
      returned { id state reason paths updatedAt author { name } project { id name } }
    }
  }
`);

export const FreezeProject = graphql(`
  mutation FreezeProject($projectId: ID!, $reason: String!, $until: DateTime) {
    freezeProject(projectId: $projectId, reason: $reason, until: $until) { id }
  }
`);
export const UnfreezeProject = graphql(
  `mutation UnfreezeProject($projectId: ID!) { unfreezeProject(projectId: $projectId) { id } }`,
);
export const OverrideFreeze = graphql(
  `mutation OverrideFreeze($id: ID!, $reason: String!) { overrideFreeze(id: $id, reason: $reason) { id } }`,
);
export const PreviewDeploy = graphql(`mutation PreviewDeploy($id: ID!) { previewDeploy(id: $id) { id } }`);
export const PreviewResult = graphql(`
  query PreviewResult($id: ID!) {
    job(id: $id) { id state error preview { targetName error transfer unknownCount items { change path unknown } } }
  }
`);

export const CompareReleases = graphql(`
  mutation CompareReleases($fromReleaseId: ID!, $toReleaseId: ID!) {
    compareReleases(fromReleaseId: $fromReleaseId, toReleaseId: $toReleaseId) { id }
  }
`);
export const ComparisonResult = graphql(`
  query ComparisonResult($id: ID!) {
    job(id: $id) { id state error comparison { from { tag } to { tag } changes { path change binary diff truncated } } }
  }
`);
