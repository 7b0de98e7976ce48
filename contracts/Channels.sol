// SPDX-License-Identifier: LGPL-3.0-or-later
pragma solidity 0.8.30;

/// @title Channels holds lightmarket's unidirectional payment channels.
/// @notice A client (the sender) locks a deposit for one server (the
/// receiver) and pays it off-chain with vouchers: EIP-712 signatures over a
/// cumulative amount. The receiver claims the latest voucher whenever it
/// likes, without closing; the sender closes in two steps around a
/// challenge period during which the receiver can still claim, and gets
/// back what was not claimed.
///
/// A channel is named by keccak256(abi.encode(sender, receiver, nonce)), so
/// only its sender can top it up or close it and only its receiver can
/// claim from it. Its state fits one storage slot. A finished channel keeps
/// its slot, so its id (and with it every voucher signed for it) can never
/// be used again.
contract Channels {
    struct Channel {
        uint96 deposit; // wei locked, in total
        uint96 claimed; // wei paid to the receiver so far
        uint64 closeAt; // 0 while open; end of the challenge period; FINISHED
    }

    uint64 internal constant FINISHED = type(uint64).max;

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(bytes32 channel,address receiver,uint256 amount)");
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant NAME_HASH = keccak256("lightmarket");
    bytes32 internal constant VERSION_HASH = keccak256("1");

    /// @notice Seconds between startClose and finishClose.
    uint64 public immutable challengePeriod;

    bytes32 internal immutable cachedDomainSeparator;
    uint256 internal immutable cachedChainId;

    mapping(bytes32 => Channel) public channels;

    event Opened(bytes32 indexed channel, address indexed sender, address indexed receiver, uint64 nonce, uint256 deposit);
    event ToppedUp(bytes32 indexed channel, uint256 added, uint256 deposit);
    event Claimed(bytes32 indexed channel, uint256 amount, uint256 paid);
    event CloseStarted(bytes32 indexed channel, uint64 closeAt);
    event Closed(bytes32 indexed channel, uint256 claimed, uint256 refund);

    error ZeroDeposit();
    error DepositTooLarge();
    error ChannelExists(bytes32 channel);
    error NoChannel(bytes32 channel);
    error ChannelClosing(bytes32 channel, uint64 closeAt);
    error ChannelFinished(bytes32 channel);
    error NotClosing(bytes32 channel);
    error ChallengeNotOver(bytes32 channel, uint64 closeAt);
    error ChallengeOver(bytes32 channel, uint64 closeAt);
    error AmountAboveDeposit(uint256 amount, uint256 deposit);
    error AmountNotAboveClaimed(uint256 amount, uint256 claimed);
    error BadSignature();
    error TransferFailed();

    constructor(uint64 challengePeriod_) {
        challengePeriod = challengePeriod_;
        cachedChainId = block.chainid;
        cachedDomainSeparator = _domainSeparator();
    }

    /// @notice The id of the channel from sender to receiver with nonce.
    function channelId(address sender, address receiver, uint64 nonce) public pure returns (bytes32) {
        return keccak256(abi.encode(sender, receiver, nonce));
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    function domainSeparator() public view returns (bytes32) {
        if (block.chainid == cachedChainId) {
            return cachedDomainSeparator;
        }
        return _domainSeparator();
    }

    /// @notice The digest a sender signs to pay amount (cumulative) on channel.
    function voucherDigest(bytes32 channel, address receiver, uint256 amount) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(VOUCHER_TYPEHASH, channel, receiver, amount));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice Opens a channel to receiver with msg.value as its deposit.
    function open(address receiver, uint64 nonce) external payable {
        bytes32 id = channelId(msg.sender, receiver, nonce);
        if (msg.value == 0) revert ZeroDeposit();
        if (msg.value > type(uint96).max) revert DepositTooLarge();
        Channel memory ch = channels[id];
        if (ch.deposit != 0 || ch.closeAt != 0) revert ChannelExists(id);
        channels[id] = Channel(uint96(msg.value), 0, 0);
        emit Opened(id, msg.sender, receiver, nonce, msg.value);
    }

    /// @notice Adds msg.value to the deposit of an open channel.
    function topUp(address receiver, uint64 nonce) external payable {
        bytes32 id = channelId(msg.sender, receiver, nonce);
        if (msg.value == 0) revert ZeroDeposit();
        Channel memory ch = _open(id);
        uint256 deposit = uint256(ch.deposit) + msg.value;
        if (deposit > type(uint96).max) revert DepositTooLarge();
        ch.deposit = uint96(deposit);
        channels[id] = ch;
        emit ToppedUp(id, msg.value, deposit);
    }

    /// @notice Pays the receiver (msg.sender) what the voucher for amount
    /// adds to what it has claimed. Allowed until the challenge period ends.
    function claim(address sender, uint64 nonce, uint256 amount, uint8 v, bytes32 r, bytes32 s) external {
        bytes32 id = channelId(sender, msg.sender, nonce);
        Channel memory ch = channels[id];
        if (ch.deposit == 0) revert NoChannel(id);
        if (ch.closeAt == FINISHED) revert ChannelFinished(id);
        if (ch.closeAt != 0 && block.timestamp >= ch.closeAt) revert ChallengeOver(id, ch.closeAt);
        if (amount > ch.deposit) revert AmountAboveDeposit(amount, ch.deposit);
        if (amount <= ch.claimed) revert AmountNotAboveClaimed(amount, ch.claimed);
        // Low s only, as go-ethereum signs: a signature has one valid form.
        if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) revert BadSignature();
        address signer = ecrecover(voucherDigest(id, msg.sender, amount), v, r, s);
        if (signer == address(0) || signer != sender) revert BadSignature();
        uint256 paid = amount - ch.claimed;
        ch.claimed = uint96(amount);
        channels[id] = ch;
        emit Claimed(id, amount, paid);
        (bool ok,) = payable(msg.sender).call{value: paid}("");
        if (!ok) revert TransferFailed();
    }

    /// @notice Starts closing a channel: the receiver has challengePeriod
    /// seconds left to claim.
    function startClose(address receiver, uint64 nonce) external {
        bytes32 id = channelId(msg.sender, receiver, nonce);
        Channel memory ch = _open(id);
        ch.closeAt = uint64(block.timestamp) + challengePeriod;
        channels[id] = ch;
        emit CloseStarted(id, ch.closeAt);
    }

    /// @notice Ends a channel whose challenge period is over and refunds the
    /// sender what the receiver did not claim.
    function finishClose(address receiver, uint64 nonce) external {
        bytes32 id = channelId(msg.sender, receiver, nonce);
        Channel memory ch = channels[id];
        if (ch.deposit == 0) revert NoChannel(id);
        if (ch.closeAt == FINISHED) revert ChannelFinished(id);
        if (ch.closeAt == 0) revert NotClosing(id);
        if (block.timestamp < ch.closeAt) revert ChallengeNotOver(id, ch.closeAt);
        uint256 refund = ch.deposit - ch.claimed;
        // Nothing is left to claim: deposit equals claimed from now on.
        channels[id] = Channel(ch.claimed, ch.claimed, FINISHED);
        emit Closed(id, ch.claimed, refund);
        if (refund > 0) {
            (bool ok,) = payable(msg.sender).call{value: refund}("");
            if (!ok) revert TransferFailed();
        }
    }

    function _open(bytes32 id) internal view returns (Channel memory ch) {
        ch = channels[id];
        if (ch.deposit == 0) revert NoChannel(id);
        if (ch.closeAt == FINISHED) revert ChannelFinished(id);
        if (ch.closeAt != 0) revert ChannelClosing(id, ch.closeAt);
    }

    function _domainSeparator() internal view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }
}
