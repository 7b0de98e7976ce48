// SPDX-License-Identifier: LGPL-3.0-or-later
pragma solidity 0.8.30;

// The contract patterns a wallet meets most, deployed on the test chain so
// that calls and simulations can be compared with geth's over them: a
// token, a constant-product pool, a proxy, a CREATE2 factory and a reader
// of many slots at once. They are test fixtures, not products.

/// A minimal ERC-20 token whose failures are custom errors.
contract Token {
    string public name;
    string public symbol;
    uint8 public constant decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);

    constructor(string memory name_, string memory symbol_, uint256 supply) {
        name = name_;
        symbol = symbol_;
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert InsufficientAllowance(msg.sender, allowed, value);
            allowance[from][msg.sender] = allowed - value;
        }
        move(from, to, value);
        return true;
    }

    function move(address from, address to, uint256 value) private {
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        balanceOf[from] = balance - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}

/// A constant-product pool of two tokens with a 0.3% fee.
contract Pool {
    Token public token0;
    Token public token1;
    uint256 public reserve0;
    uint256 public reserve1;

    event Swap(address indexed sender, bool zeroForOne, uint256 amountIn, uint256 amountOut);

    error Slippage(uint256 amountOut, uint256 minOut);
    error NoLiquidity();

    constructor(Token token0_, Token token1_) {
        token0 = token0_;
        token1 = token1_;
    }

    function addLiquidity(uint256 amount0, uint256 amount1) external {
        token0.transferFrom(msg.sender, address(this), amount0);
        token1.transferFrom(msg.sender, address(this), amount1);
        reserve0 += amount0;
        reserve1 += amount1;
    }

    function quote(uint256 amountIn, bool zeroForOne) public view returns (uint256) {
        (uint256 rin, uint256 rout) = zeroForOne ? (reserve0, reserve1) : (reserve1, reserve0);
        if (rin == 0 || rout == 0) revert NoLiquidity();
        uint256 inWithFee = amountIn * 997;
        return (inWithFee * rout) / (rin * 1000 + inWithFee);
    }

    function swap(uint256 amountIn, bool zeroForOne, uint256 minOut) external returns (uint256 out) {
        out = quote(amountIn, zeroForOne);
        if (out < minOut) revert Slippage(out, minOut);
        (Token tin, Token tout) = zeroForOne ? (token0, token1) : (token1, token0);
        tin.transferFrom(msg.sender, address(this), amountIn);
        tout.transfer(msg.sender, out);
        if (zeroForOne) {
            reserve0 += amountIn;
            reserve1 -= out;
        } else {
            reserve1 += amountIn;
            reserve0 -= out;
        }
        emit Swap(msg.sender, zeroForOne, amountIn, out);
    }
}

/// A counter, the implementation behind the proxy and what the factory
/// deploys.
contract Counter {
    uint256 public count;
    mapping(address => uint256) public countOf;

    event Counted(address indexed by, uint256 count);

    function increment() external returns (uint256) {
        count += 1;
        countOf[msg.sender] += 1;
        emit Counted(msg.sender, count);
        return count;
    }

    function fail(string calldata reason) external pure {
        revert(reason);
    }
}

/// An EIP-1967 proxy: every call runs its implementation's code over the
/// proxy's storage.
contract Proxy {
    // keccak256("eip1967.proxy.implementation") - 1
    bytes32 private constant IMPLEMENTATION = 0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;

    constructor(address implementation) {
        assembly {
            sstore(IMPLEMENTATION, implementation)
        }
    }

    fallback() external payable {
        assembly {
            let impl := sload(IMPLEMENTATION)
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), impl, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }
}

/// A CREATE2 factory of counters.
contract Factory {
    event Deployed(address counter, bytes32 salt);

    function deploy(bytes32 salt) external returns (address counter) {
        counter = address(new Counter{salt: salt}());
        emit Deployed(counter, salt);
    }

    function predict(bytes32 salt) external view returns (address) {
        bytes32 h = keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, keccak256(type(Counter).creationCode)));
        return address(uint160(uint256(h)));
    }
}

/// Reads many balances of many tokens in one call, as portfolio views do.
contract Balances {
    function balances(Token[] calldata tokens, address[] calldata holders) external view returns (uint256[] memory out) {
        out = new uint256[](tokens.length * holders.length);
        for (uint256 i = 0; i < tokens.length; i++) {
            for (uint256 j = 0; j < holders.length; j++) {
                out[i * holders.length + j] = tokens[i].balanceOf(holders[j]);
            }
        }
    }
}
