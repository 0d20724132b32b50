-- Argo CD health check for brandmon.io/BrandMonitor (argocd-cm key
-- resource.customizations.health.brandmon.io_BrandMonitor; gitops/argocd/argocd-cm.yaml
-- carries this same text). Argo CD sets the global `obj` to the live object and reads the
-- returned table's `status` and `message`.
--
-- It reads the kstatus conditions the operator writes (operator/brandmon_operator/status.py):
--   Progressing  no status yet, the current generation not yet observed, Reconciling=True,
--                or Ready=False for a reason a retry can fix
--   Degraded     Stalled=True, or Ready=False for a terminal reason (a spec edit is needed)
--   Suspended    spec.suspend, once observed (collectors suspended, workers at zero)
--   Healthy      Ready=True at the observed generation
-- Written for Lua 5.1 (Argo CD embeds gopher-lua).

local hs = {}

-- Reasons for which retrying cannot help until the spec (or the cluster) changes; the
-- operator also sets Stalled=True for them, this is the fallback when only Ready is there.
local terminal = {
  InvalidSpec = true,
  WorkloadRejected = true,
  TopicRejected = true,
  TopicChangeRefused = true,
  NoKsqlDbServer = true,
  StatementRejected = true,
  ObjectNotOwned = true,
  ChildNotOwned = true,
  CredentialsUnavailable = true,
  S3UriOutsideNamespace = true,
  S3CredentialsNotConfigured = true,
  CapExceeded = true,
  ConnectionNotAllowed = true,
  KafkaAccessRefused = true,
}

local function find(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == kind then
      return condition
    end
  end
  return nil
end

local function describe(condition, fallback)
  if condition == nil then
    return fallback
  end
  local message = condition.message
  if message == nil or message == "" then
    return condition.reason or fallback
  end
  return message
end

local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the monitor"
  return hs
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = find(status.conditions, "Ready")
local reconciling = find(status.conditions, "Reconciling")
local stalled = find(status.conditions, "Stalled")

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end
if ready ~= nil and ready.status == "False" and terminal[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready, ready.reason)
  return hs
end
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended: collections stopped, workers scaled to zero"
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end
hs.status = "Progressing"
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = describe(reconciling, "Reconciling")
else
  hs.message = describe(ready, "Waiting for the Ready condition")
end
return hs
